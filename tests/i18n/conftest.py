"""Fixtures for the language tests: a store, a kiosk and its enrolled browser (as tests/kiosk's),
and an online guest whose browser asks for Spanish."""

import pytest
from django.test import Client

from kiosk.models import Kiosk
from ordering.models import Store
from tests.kiosk_client import enroll


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
def spanish_browser(db):
    """An online guest whose browser's language is Spanish (as a phone set to Spanish sends)."""
    return Client(HTTP_ACCEPT_LANGUAGE="es-US,es;q=0.9,en;q=0.5")
