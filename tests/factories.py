"""Test data and helpers shared by every suite: the sandbox's credentials, card numbers and PINs,
orders made and paid through the services, lost redeems for reconciliation, staff users, and the
row counts that bad input must leave alone.

Plain functions and constants only: the fixtures that use them live in tests/conftest.py.
"""

import itertools
import random
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db.models.functions import Now
from django.test import Client

from ecard_integration import services as ecard
from ecard_integration.models import EcardTransaction, Source, State
from ordering import services
from ordering.models import Order, OrderLine, Tender
from ordering.pins.attempt import Guest

# The session sandbox's credentials (tests/conftest.py starts it with these).
CLIENT_ID = "test-client"
CLIENT_SECRET = "canary-client-secret-7f3a9c2e"
CONTROL_KEY = "test-control-key"


def using_postgres() -> bool:
    return settings.USING_POSTGRES


def using_redis() -> bool:
    return bool(settings.REDIS_URL)


PIN = "4826"
WRONG_PIN = "1111"
_counter = itertools.count(1)


def new_card_number() -> str:
    """A fresh 16-digit sandbox card number for each call."""
    return f"6007{random.randint(10**7, 10**8 - 1)}{next(_counter):04d}"


def attempt_key() -> str:
    return f"test-attempt-{random.getrandbits(64):016x}"


def make_order(lines, *, email="ada@example.com", language="") -> Order:
    """An open order through the checkout service: `lines` is [(item, quantity), ...]."""
    entries = [services.CartEntry(item.id, quantity, item.price) for item, quantity in lines]
    total = sum(item.price * quantity for item, quantity in lines)
    return services.start_checkout(
        entries=entries,
        expected_total=total,
        guest_name="Ada",
        guest_email=email,
        language=language,
    )


def pay(order, card_number, pin=PIN, amount=None, key=None, session="session-a", ip="10.0.0.1"):
    """Pay `order` online through the payment service (no HTTP)."""
    return services.pay_with_card(
        order=order,
        card_number=card_number,
        pin=pin,
        amount=amount,
        attempt_key=key or attempt_key(),
        guest=Guest.online(session_key=session, ip=ip),
    )


def counts() -> dict:
    """Row counts that bad input must leave unchanged."""
    return {
        "orders": Order.objects.count(),
        "lines": OrderLine.objects.count(),
        "tenders": Tender.objects.count(),
        "transactions": EcardTransaction.objects.count(),
    }


def effects(ledger: list[dict], request_id: str) -> list[dict]:
    """Sandbox ledger entries processed under one of our request ids."""
    return [entry for entry in ledger if entry["request_id"] == request_id]


def lost_redeem(
    sandbox, card, *, pin=PIN, amount="10.00", action="drop_after_commit", budget_seconds=1
) -> EcardTransaction:
    """A kiosk redeem eCard processed but whose answer never reached us: an unknown row."""
    sandbox.set_faults([{"match": {"card_number": card}, "action": action}])
    row = ecard.redeem(
        card_number=card, amount=amount, pin=pin, source=Source.KIOSK, budget_seconds=budget_seconds
    )
    sandbox.clear_faults()
    assert row.state == State.UNKNOWN, (row.state, row.error_code)
    return row


def due_now(rows) -> None:
    """Reconciliation may replay these rows now."""
    EcardTransaction.objects.filter(id__in=[row.id for row in rows]).update(
        next_attempt_at=Now() - timedelta(seconds=1)
    )


def make_staff(username, *codenames):
    """A staff user with exactly these permissions (codenames such as "view_kiosk")."""
    user = get_user_model().objects.create_user(
        username, password="correct-horse-battery-9", is_staff=True
    )
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


def staff_client(*codenames, username="staff") -> Client:
    """A browser logged in as a staff user with these permissions."""
    client = Client()
    client.force_login(make_staff(username, *codenames))
    return client
