"""Test data, made fast: sandbox cards, open orders, prepared eCard requests.

Orders are written with the same fields `ordering.services.start_checkout` writes (one line, the
catalog's price), in bulk: the bench measures paying, not the checkout that precedes it.
"""

from __future__ import annotations

import itertools
import secrets
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

PIN = "4826"
ORDER_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_card_serial = itertools.count(1)
_run_prefix = f"{secrets.randbelow(900) + 100}"


def card_numbers(count: int) -> list[str]:
    """Fresh 16-digit card numbers, unique within this run."""
    return [f"6009{_run_prefix}{next(_card_serial):09d}" for _ in range(count)]


def create_cards(stack, count: int, balance: str, *, threads: int = 8) -> list[str]:
    """`count` new sandbox cards with PIN `PIN`, created over the control API in parallel."""
    from ecard_sandbox.control import SandboxControl

    numbers = card_numbers(count)
    sandbox = stack.sandbox
    chunks = [numbers[i::threads] for i in range(threads)]

    def make(chunk: list[str]) -> None:
        with SandboxControl(sandbox.url_root, sandbox.control_key, sandbox.ca_path) as control:
            for number in chunk:
                control.create_card(number, balance, pin=PIN)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(make, chunks))
    return numbers


def open_orders(count: int) -> list[tuple[str, str, Decimal]]:
    """`count` open online orders of one espresso: [(number, access token, total)]."""
    from ordering.models import Item, Order, OrderLine
    from ordering.services import online_store

    item = Item.objects.filter(available=True).order_by("price").first()
    store = online_store()
    created: list[tuple[str, str, Decimal]] = []
    for start in range(0, count, 1000):
        batch = [
            Order(
                number="".join(secrets.choice(ORDER_ALPHABET) for _ in range(12)),
                access_token=secrets.token_urlsafe(24),
                store=store,
                guest_name="Bench guest",
                total=item.price,
            )
            for _ in range(min(1000, count - start))
        ]
        Order.objects.bulk_create(batch)
        OrderLine.objects.bulk_create(
            OrderLine(
                order=order,
                item=item,
                name=item.name,
                unit_price=item.price,
                quantity=1,
                line_total=item.price,
            )
            for order in batch
        )
        created += [(order.number, order.access_token, order.total) for order in batch]
    return created


def redeem_request(card_number: str, amount: str = "1.00"):
    """A prepared redeem as `ecard_integration.services` builds it for an online guest."""
    from django.conf import settings

    from ecard_integration import wire

    return wire.build_request(
        "redeem",
        request_id=wire.new_request_id(),
        card_number=card_number,
        amount=amount,
        pin=PIN,
        store_id="store-001",
        terminal_id="web-01",
        currency=settings.ECARD_CURRENCY,
    )
