"""Fixtures of the kiosk's server-side tests (tests/kiosk, tests/i18n): a store, a kiosk, the test
client enrolled as it, and a guest's visit. Loaded for every test by tests/conftest.py."""

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
