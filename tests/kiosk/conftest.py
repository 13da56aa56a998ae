"""Fixtures for the kiosk tests: a store, a kiosk, an enrolled browser and a guest's visit (the
helpers that drive the pages are in tests/kiosk_client.py)."""

import pytest

from kiosk.models import Kiosk
from ordering.models import Store
from tests.kiosk_client import enroll, start_visit


@pytest.fixture
def store(db):
    return Store.objects.create(
        name="Main Street café", ecard_store_id="store-001", online_terminal_id="web-01"
    )


@pytest.fixture
def kiosk(store):
    return Kiosk.objects.create(name="Lobby 1", store=store, terminal_id="kiosk-01")


@pytest.fixture
def device(client, kiosk):
    """The test client, enrolled as `kiosk`."""
    return enroll(client, kiosk)


@pytest.fixture
def visit(device) -> str:
    """A guest's visit on the enrolled kiosk: its id."""
    return start_visit(device)
