"""Rotating the card-data key: old rows stay readable throughout, then only the new key is needed."""

import io
from decimal import Decimal

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command

from ecard_integration import crypto, services
from ecard_integration.errors import CardDataKeyError
from ecard_integration.models import EcardTransaction, Source
from tests.factories import new_card_number

pytestmark = pytest.mark.django_db(transaction=True)


def test_rotation_re_encrypts_every_row_under_the_new_key(sandbox, settings):
    card = new_card_number()
    sandbox.create_card(card, Decimal("20.00"), pin="1234")
    services.redeem(card_number=card, amount="1.00", pin="1234", source=Source.KIOSK)
    old_key = settings.CARD_DATA_KEYS[0]
    new_key = Fernet.generate_key().decode()

    settings.CARD_DATA_KEYS = [new_key, old_key]  # new first: it encrypts, both decrypt
    row = EcardTransaction.objects.get()
    assert crypto.decrypt_text(row.card_ciphertext) == card
    call_command("rotate_card_key", stdout=io.StringIO())

    settings.CARD_DATA_KEYS = [new_key]  # the old key is gone
    row.refresh_from_db()
    assert crypto.decrypt_text(row.card_ciphertext) == card
    settings.CARD_DATA_KEYS = [old_key]
    with pytest.raises(CardDataKeyError):
        crypto.decrypt_text(row.card_ciphertext)
