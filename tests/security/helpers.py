"""Helpers for the security suite: snapshots that prove bad input changed nothing, a log
recorder that sees every record (raw and redacted), and the online checkout over HTTP (the fixtures that use them are in tests/security/conftest.py).
"""

import contextlib
import io
import logging
import re

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from config.logging import RedactingFilter
from ecard_integration.models import EcardExchange, EcardTransaction
from ordering.models import Order, OrderLine, Tender
from tests.factories import PIN

TX = pytest.mark.django_db(transaction=True)


# --- Nothing changed ----------------------------------------------------------------------------


def snapshot() -> dict:
    """Every row count and state that a refused request must leave as it was."""
    return {
        "EcardTransaction": EcardTransaction.objects.count(),
        "EcardExchange": EcardExchange.objects.count(),
        "Order": Order.objects.count(),
        "OrderLine": OrderLine.objects.count(),
        "Tender": Tender.objects.count(),
        "LogEntry": LogEntry.objects.count(),
        "transaction states": sorted(EcardTransaction.objects.values_list("id", "state")),
        "order states": sorted(Order.objects.values_list("id", "status", "total")),
        "tender states": sorted(Tender.objects.values_list("id", "status", "amount")),
    }


@contextlib.contextmanager
def assert_nothing_changed(sandbox):
    """`with assert_nothing_changed(sandbox): ...`: no row was added or moved on, and eCard (the
    sandbox ledger) processed nothing, during the block."""
    before = snapshot()
    ledger_before = len(sandbox.ledger())
    yield
    assert snapshot() == before
    assert len(sandbox.ledger()) == ledger_before


# --- Logs ---------------------------------------------------------------------------------------


class LogRecorder(logging.Handler):
    """Every record from the root logger and every logger that does not propagate to it, at
    DEBUG: its raw message (before any filter) and its output through the project's
    RedactingFilter."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.raw: list[tuple[int, str]] = []
        self.output = io.StringIO()
        self.redact = RedactingFilter()

    def emit(self, record):
        raw = record.getMessage()
        if record.exc_info:
            raw += logging.Formatter().formatException(record.exc_info)
        # String extras are what formatters and JSON handlers print besides the message.
        raw += " ".join(
            value
            for key, value in vars(record).items()
            if key not in _STANDARD and isinstance(value, str)
        )
        self.raw.append((record.levelno, raw))
        copy = logging.makeLogRecord(vars(record))
        self.redact.filter(copy)
        self.output.write(self.format(copy) + "\n")
        if copy.exc_text:
            self.output.write(copy.exc_text + "\n")

    def text(self, raw_level: int = logging.INFO) -> str:
        """The redacted output of every record, with the raw messages of those at `raw_level`
        or above (INFO: what the configured LOG_LEVEL lets through; DEBUG records, such as
        django.template's variable lookups that print the whole request, exist only when
        LOG_LEVEL=DEBUG and then reach handlers only through the RedactingFilter)."""
        raw = [text for level, text in self.raw if level >= raw_level]
        return "\n".join(raw) + "\n" + self.output.getvalue()


_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


# --- The online checkout over HTTP ------------------------------------------------------------------


def add_to_cart(client, item, quantity="1", **extra):
    return client.post(
        reverse("ordering:cart_add"), {"item": str(item.id), "quantity": quantity, **extra}
    )


def start_order(client, lines, *, name="Ada", email="ada@example.com") -> Order:
    """Add `[(item, quantity)]` to the cart and check out over HTTP; returns the open order."""
    for item, quantity in lines:
        assert add_to_cart(client, item, str(quantity)).status_code == 303
    total = sum(item.price * quantity for item, quantity in lines)
    response = client.post(
        reverse("ordering:checkout"),
        {"guest_name": name, "guest_email": email, "expected_total": f"{total:.2f}"},
    )
    assert response.status_code == 303, response.content.decode()[:2000]
    return Order.objects.get(number=response["Location"].split("/")[2])


def order_url(order, name="order", *args) -> str:
    return reverse(f"ordering:{name}", args=[order.number, order.access_token, *args])


def attempt_key_of(response) -> str:
    match = re.search(r'name="attempt_key" value="([^"]+)"', response.content.decode())
    assert match, "the form carries an attempt key"
    return match.group(1)


def pay_data(client, order, card, pin=PIN, amount="", **extra) -> dict:
    key = attempt_key_of(client.get(order_url(order)))
    return {"card_number": card, "pin": pin, "amount": amount, "attempt_key": key, **extra}


def pay(client, order, card, pin=PIN, amount="", *, meta=None, **extra):
    """POST the pay form of `order` (a fresh attempt key from the page); `extra` are more form
    fields, `meta` request headers and environ (e.g. `REMOTE_ADDR`) for the POST."""
    data = pay_data(client, order, card, pin, amount, **extra)
    return client.post(order_url(order, "order_pay"), data, **(meta or {}))
