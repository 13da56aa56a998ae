"""Fixtures for the language tests (the kiosk's store, kiosk and enrolled client come from
tests/kiosk_fixtures.py): an online guest whose browser asks for Spanish."""

import pytest
from django.test import Client


@pytest.fixture
def spanish_browser(db):
    """An online guest whose browser's language is Spanish (as a phone set to Spanish sends)."""
    return Client(HTTP_ACCEPT_LANGUAGE="es-US,es;q=0.9,en;q=0.5")
