"""Create the "Supervisors" group: staff who may void transactions, load cards and export evidence."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

SUPERVISOR_PERMISSIONS = [
    "void_transaction",
    "load_card",
    "export_evidence",
    "view_ecardtransaction",
]


def create_supervisors(apps, schema_editor):
    # Permissions are normally created after all migrations; make sure ours exist now.
    app_config = apps.get_app_config("ecard_integration")
    app_config.models_module = True  # the migration state's stub has none; create_permissions asks
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    group, _ = group_model.objects.get_or_create(name="Supervisors")
    group.permissions.add(
        *permission_model.objects.filter(
            content_type__app_label="ecard_integration", codename__in=SUPERVISOR_PERMISSIONS
        )
    )


def remove_supervisors(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="Supervisors").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("ecard_integration", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_supervisors, remove_supervisors)]
