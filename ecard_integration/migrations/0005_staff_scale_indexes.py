"""Staff pages and sweeps at a chain's scale (issue 16): partial indexes for what the sweeps and
the exchange list's rare filters look for (the date filter's index is 0006's `ledger_created`).

Built `CONCURRENTLY` on PostgreSQL (`config.indexes.AddIndexOnline`): payments keep writing
while the ledger's millions of rows are indexed. Hence `atomic = False` (docs/operations.md).
"""

from django.db import migrations, models

from config.indexes import AddIndexOnline


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("ecard_integration", "0004_transaction_attempt_key"),
    ]

    operations = [
        AddIndexOnline(
            model_name="ecardexchange",
            index=models.Index(
                condition=models.Q(("kind", "token")), fields=["id"], name="exchange_tokens"
            ),
        ),
        AddIndexOnline(
            model_name="ecardexchange",
            index=models.Index(
                condition=models.Q(("is_reconciliation", True)),
                fields=["id"],
                name="exchange_reconciliation",
            ),
        ),
        AddIndexOnline(
            model_name="ecardexchange",
            index=models.Index(
                condition=models.Q(("idempotent_replay", True)),
                fields=["id"],
                name="exchange_replays",
            ),
        ),
        AddIndexOnline(
            model_name="ecardexchange",
            index=models.Index(
                condition=models.Q(("response_status__gte", 300)),
                fields=["response_status"],
                name="exchange_failed_status",
            ),
        ),
        AddIndexOnline(
            model_name="ecardexchange",
            index=models.Index(
                condition=models.Q(("response_status__isnull", True)),
                fields=["id"],
                name="exchange_no_answer",
            ),
        ),
        AddIndexOnline(
            model_name="ecardtransaction",
            index=models.Index(
                condition=models.Q(
                    ("caller_intent", "gave_up"),
                    ("kind__in", ["load", "redeem"]),
                    ("state", "approved"),
                ),
                fields=["id"],
                name="abandoned_approved",
            ),
        ),
        AddIndexOnline(
            model_name="ecardtransaction",
            index=models.Index(
                condition=models.Q(("kind", "redeem"), ("state", "voided")),
                fields=["completed_at"],
                name="voided_redeems",
            ),
        ),
    ]
