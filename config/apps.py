from django.apps import AppConfig


class ConfigConfig(AppConfig):
    """The project package as an app, for the few models that belong to no domain (the health
    heartbeat)."""

    name = "config"
    label = "config"
    verbose_name = "Site"
    default_auto_field = "django.db.models.BigAutoField"
