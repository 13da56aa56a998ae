"""Small helpers shared by the ecard_integration tests."""

import itertools
import random

_counter = itertools.count(1)


def new_card_number() -> str:
    """A fresh 16-digit test card number for each call."""
    return f"6006{random.randint(10**7, 10**8 - 1)}{next(_counter):04d}"


def effects(ledger: list[dict], request_id: str) -> list[dict]:
    """Sandbox ledger entries processed under one of our request ids."""
    return [entry for entry in ledger if entry["request_id"] == request_id]
