"""Re-encrypt stored card data under the newest key in CARD_DATA_KEYS.

Rotation: put a new key FIRST in CARD_DATA_KEYS (keep the old ones after it), restart, run this
command, then remove the old keys. Until it finishes every key still decrypts, so nothing breaks
while it runs; it is safe to stop and run again.
"""

from django.core.management.base import BaseCommand
from django.db import transaction

from ecard_integration import crypto
from ecard_integration.models import EcardTransaction

BATCH = 500


class Command(BaseCommand):
    help = "Re-encrypt card numbers and stored replay bytes under the newest card-data key."

    def handle(self, *args, **options):
        rotated = 0
        last_id = 0
        while True:
            ids = list(
                EcardTransaction.objects.filter(id__gt=last_id)
                .order_by("id")
                .values_list("id", flat=True)[:BATCH]
            )
            if not ids:
                break
            with transaction.atomic():
                rows = EcardTransaction.objects.select_for_update().filter(id__in=ids)
                for row in rows:
                    row.card_ciphertext = crypto.rotate(row.card_ciphertext)
                    fields = ["card_ciphertext"]
                    if row.replay_ciphertext is not None:
                        row.replay_ciphertext = crypto.rotate(row.replay_ciphertext)
                        fields.append("replay_ciphertext")
                    row.save(update_fields=fields)
                    rotated += 1
            last_id = ids[-1]
        self.stdout.write(f"Re-encrypted {rotated} transactions under the newest key.")
