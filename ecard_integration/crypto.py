"""Card data at rest: Fernet encryption with rotating keys, and a keyed hash for lookups.

`CARD_DATA_KEYS` lists Fernet keys newest first: the first encrypts, all of them decrypt, so a key
can be rotated while old rows are still being re-encrypted (`manage.py rotate_card_key`).
"""

import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from ecard_integration.errors import CardDataKeyError


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def _current() -> MultiFernet:
    return _fernet(tuple(settings.CARD_DATA_KEYS))


def encrypt(plaintext: bytes) -> bytes:
    return _current().encrypt(plaintext)


def decrypt(token: bytes) -> bytes:
    try:
        return _current().decrypt(bytes(token))
    except InvalidToken as exc:
        raise CardDataKeyError("card data does not decrypt with any key in CARD_DATA_KEYS") from exc


def rotate(token: bytes) -> bytes:
    """Re-encrypt under the newest key (a no-op for the plaintext)."""
    return _current().rotate(bytes(token))


def encrypt_text(text: str) -> bytes:
    return encrypt(text.encode())


def decrypt_text(token: bytes) -> str:
    return decrypt(token).decode()


def card_hash(card_number: str) -> str:
    """Keyed hash of a card number: finds a card's rows without storing the number in the clear."""
    return hmac.new(
        settings.CARD_HASH_KEY.encode(), card_number.encode(), hashlib.sha256
    ).hexdigest()
