"""Fixtures for the ordering tests: a small menu, sandbox cards, orders made by the services."""

import itertools
import random
from decimal import Decimal

import pytest

from ecard_integration.models import EcardTransaction
from ordering import services
from ordering.models import Category, Item, Order, OrderLine, Tender
from ordering.pins.attempt import Guest

PIN = "4826"
WRONG_PIN = "1111"
_counter = itertools.count(1)


def new_card_number() -> str:
    """A fresh 16-digit sandbox card number for each call."""
    return f"6007{random.randint(10**7, 10**8 - 1)}{next(_counter):04d}"


def attempt_key() -> str:
    return f"test-attempt-{random.getrandbits(64):016x}"


@pytest.fixture
def items(db):
    coffee = Category.objects.create(name="Coffee", sort_order=1)
    treats = Category.objects.create(name="Treats", sort_order=2)
    return {
        "latte": Item.objects.create(category=coffee, name="Latte", price=Decimal("4.50")),
        "cake": Item.objects.create(category=treats, name="Cake", price=Decimal("6.00")),
        "box": Item.objects.create(category=treats, name="Gift box", price=Decimal("40.00")),
    }


def make_order(lines, *, email="ada@example.com") -> Order:
    """An open order through the checkout service: `lines` is [(item, quantity), ...]."""
    entries = [services.CartEntry(item.id, quantity, item.price) for item, quantity in lines]
    total = sum(item.price * quantity for item, quantity in lines)
    return services.start_checkout(
        entries=entries, expected_total=total, guest_name="Ada", guest_email=email
    )


@pytest.fixture
def new_card(sandbox):
    """Make a sandbox card: `new_card("25.00")`, `new_card("10.00", status="inactive")`."""

    def make(balance, *, pin=PIN, **options) -> str:
        number = new_card_number()
        sandbox.create_card(number, Decimal(balance), pin=pin, **options)
        return number

    return make


def pay(order, card_number, pin=PIN, amount=None, key=None, session="session-a", ip="10.0.0.1"):
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
