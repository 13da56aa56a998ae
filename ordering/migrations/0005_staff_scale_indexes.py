"""Staff pages and sweeps at a chain's scale (issue 16): partial indexes for the order sweep's
receipts and released tenders, and the order and tender searches (name, e-mail, last four).

Built `CONCURRENTLY` on PostgreSQL (`config.indexes.AddIndexOnline`), hence `atomic = False`.
"""

import django.db.models.functions.comparison
import django.db.models.functions.text
from django.db import migrations, models

from config.indexes import AddIndexOnline


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("ecard_integration", "0005_staff_scale_indexes"),
        ("ordering", "0004_order_language"),
    ]

    operations = [
        AddIndexOnline(
            model_name="order",
            index=models.Index(
                condition=models.Q(
                    ("receipt_sent_at__isnull", True),
                    ("status", "paid"),
                    models.Q(("guest_email", ""), _negated=True),
                ),
                fields=["id"],
                name="receipt_owed",
            ),
        ),
        AddIndexOnline(
            model_name="order",
            index=models.Index(
                fields=["guest_name"], name="order_guest_name", opclasses=["varchar_pattern_ops"]
            ),
        ),
        AddIndexOnline(
            model_name="order",
            index=models.Index(
                django.db.models.functions.text.Upper(
                    django.db.models.functions.comparison.Cast("guest_email", models.TextField())
                ),
                name="order_guest_email_upper",
            ),
        ),
        AddIndexOnline(
            model_name="tender",
            index=models.Index(fields=["card_last4"], name="tender_card_last4"),
        ),
        AddIndexOnline(
            model_name="tender",
            index=models.Index(
                condition=models.Q(
                    ("released_at__isnull", False),
                    ("status__in", ["pending", "unknown", "needs_attention", "approved"]),
                ),
                fields=["id"],
                name="released_holding_money",
            ),
        ),
    ]
