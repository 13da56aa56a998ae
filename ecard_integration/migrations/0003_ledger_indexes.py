"""Ledger indexes: one for staff searching by a card's last four digits, and no LIKE indexes.

On PostgreSQL Django gives every indexed or unique CharField a second, `varchar_pattern_ops`
index for `LIKE 'x%'`. No query here makes one (lookups and the ledger's admin search are exact),
yet every ledger write and every order or tender update keeps them up to date: they are dropped.
Only those: changing the fields' `db_index` instead would make Django drop every index on the
column, the partial unique indexes that keep one transaction in flight per card included.
"""

from django.db import migrations, models

PATTERN_INDEXES = [
    ("ecard_integration_ecardtransaction", "request_id"),
    ("ecard_integration_ecardtransaction", "caller_reference"),
    ("ecard_integration_ecardtransaction", "card_hash"),
    ("ecard_integration_ecardtransaction", "processor_transaction_id"),
    ("ordering_order", "number"),
    ("ordering_order", "status"),
    ("ordering_tender", "attempt_key"),
]


def _name(schema_editor, table: str, column: str) -> str:
    return schema_editor._create_index_name(table, [column], suffix="_like")


def drop_pattern_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, column in PATTERN_INDEXES:
        name = schema_editor.quote_name(_name(schema_editor, table, column))
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


def create_pattern_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    quote = schema_editor.quote_name
    for table, column in PATTERN_INDEXES:
        name = quote(_name(schema_editor, table, column))
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {quote(table)} "
            f"({quote(column)} varchar_pattern_ops)"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("ecard_integration", "0002_supervisors_group"),
        ("ordering", "0001_initial"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="ecardtransaction",
            index=models.Index(fields=["card_last4"], name="card_last4"),
        ),
        migrations.RunPython(drop_pattern_indexes, create_pattern_indexes),
    ]
