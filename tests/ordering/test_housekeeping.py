"""Beat's daily housekeeping."""

from datetime import timedelta
from importlib import import_module

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.utils import timezone

from ordering import tasks

pytestmark = pytest.mark.django_db


def test_expired_sessions_are_cleared_and_live_ones_kept():
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store["cart"] = {"1": 1}
    store.create()  # a guest's live session
    Session.objects.create(
        session_key="x" * 32, session_data="", expire_date=timezone.now() - timedelta(seconds=1)
    )

    tasks.clear_expired_sessions()

    assert list(Session.objects.values_list("session_key", flat=True)) == [store.session_key]
