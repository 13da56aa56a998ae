"""Redis round trips of one guest payment (issue 14): at most 2 on the PIN's path.

A spy on redis-py's connection (`send_packed_command`, which it calls once per command and once
per pipeline, MULTI/EXEC included) calls through and records what each write carried, so a round
trip is one write to the socket followed by its answers. The payment is driven as in
tests/test_query_counts.py: a checkout by the Django test client, then the pay form's POST.

Before the send: the card's guard taken and every scope's counter read (one pipeline). After it:
the guard released with the card's counter reset (approval) or every scope's counter counted (a
PIN failure), one pipeline. A wrong PIN also notes its scopes for staff (`lockouts.note`: their
slot numbers, then the slots: 2 round trips; before issue 14, 5 per scope, 15).
"""

import json
import os
import threading
import uuid
from decimal import Decimal

import pytest
import redis
from django.core.cache import cache, caches
from django.urls import reverse
from redis.connection import AbstractConnection

from ecard_integration import crypto
from ordering.models import Category, Item, Order, OrderStatus
from ordering.pins import lockouts, throttle
from tests.factories import WRONG_PIN, new_card_number

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]
PIN = "4826"
CARD_BALANCE = "500.00"  # of the `card` fixture (tests/conftest.py)

PAYMENT_ROUND_TRIPS = 2
LOCKOUT_NOTE_ROUND_TRIPS = 2  # the slot numbers, then the slots


class RoundTrips:
    """Every write redis-py makes to a socket, while recording: the command names it carried."""

    def __init__(self):
        self.writes: list[list[str]] = []
        self.recording = False

    def spy(self, real):
        trips = self

        def send_packed_command(connection, command, check_health=True):
            if trips.recording:
                trips.writes.append(_command_names(command))
            return real(connection, command, check_health)

        return send_packed_command


def _command_names(packed) -> list[str]:
    """The commands in a packed RESP write (`*n` arrays of `$len` bulk strings)."""
    data = b"".join(bytes(part) for part in packed) if isinstance(packed, list) else bytes(packed)
    names, lines = [], data.split(b"\r\n")
    index = 0
    while index < len(lines):
        if lines[index].startswith(b"*"):
            names.append(lines[index + 2].decode().upper())  # `$len`, then the command's name
            index += 3
        else:
            index += 1
    return names


@pytest.fixture
def round_trips(monkeypatch):
    trips = RoundTrips()
    monkeypatch.setattr(
        AbstractConnection,
        "send_packed_command",
        trips.spy(AbstractConnection.send_packed_command),
    )
    return trips


@pytest.fixture
def menu(db):
    coffee = Category.objects.create(name="Coffee", sort_order=1)
    return [Item.objects.create(category=coffee, name="Latte", price=Decimal("2.00"))]


def _checkout(client, items) -> Order:
    for item in items:
        client.post(reverse("ordering:cart_add"), {"item": str(item.id), "quantity": "1"})
    response = client.post(
        reverse("ordering:checkout"),
        {"guest_name": "Ada", "guest_email": "", "expected_total": "2.00"},
    )
    assert response.status_code == 303, response.content.decode()[:500]
    return Order.objects.get(number=response["Location"].split("/")[2])


def _pay(client, order, card, pin=PIN):
    return client.post(
        reverse("ordering:order_pay", args=[order.number, order.access_token]),
        {"card_number": card, "pin": pin, "amount": "", "attempt_key": uuid.uuid4().hex},
    )


def _recorded(trips, action):
    trips.writes.clear()
    trips.recording = True
    try:
        action()
    finally:
        trips.recording = False
    return trips.writes


def test_an_online_payment_makes_at_most_two_redis_round_trips(client, menu, card, round_trips):
    client.get(reverse("ordering:menu"))
    _pay(client, _checkout(client, menu), card)  # warm: session, token, the pool's connection

    order = _checkout(client, menu)
    writes = _recorded(round_trips, lambda: _pay(client, order, card))

    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert len(writes) <= PAYMENT_ROUND_TRIPS, writes
    assert ["SET", "MGET"] in writes  # the guard and every scope's counter, together


def test_a_wrong_pin_makes_two_round_trips_and_the_staff_notes(client, menu, sandbox, round_trips):
    card = new_card_number()
    sandbox.create_card(card, Decimal("50.00"), pin=PIN)
    client.get(reverse("ordering:menu"))
    _pay(client, _checkout(client, menu), card)  # warm: session, token, the pool's connection

    order = _checkout(client, menu)
    writes = _recorded(round_trips, lambda: _pay(client, order, card, pin=WRONG_PIN))

    order.refresh_from_db()
    assert order.status != OrderStatus.PAID
    assert len(writes) <= PAYMENT_ROUND_TRIPS + LOCKOUT_NOTE_ROUND_TRIPS, writes
    # The staff list reads what the pipelines noted, through the cache API.
    noted = {lockout.scope: lockout for lockout in lockouts.current()}
    assert set(noted) == {"card", "session", "ip"}
    assert noted["card"].label == f"Card •••• {card[-4:]}"
    assert noted["card"].failures == 1
    counted = [write for write in writes if "INCRBY" in write and "EXPIRE" in write]
    assert len(counted) == 1, writes  # every scope counted, with its window, in one pipeline
    # What the pipeline wrote reads back through the cache API (staff tools read it so).
    assert throttle.failures(throttle.Scopes(crypto.card_hash(card))) == {"card": 1}


# --- One client per process (config/cache.py) ---------------------------------------------------


def test_threads_and_calls_share_one_client_and_pool(monkeypatch):
    used = []
    real = redis.Redis.execute_command

    def execute_command(client, *args, **options):
        used.append(client)
        return real(client, *args, **options)

    monkeypatch.setattr(redis.Redis, "execute_command", execute_command)
    backends = []

    def work():
        backends.append(caches["default"])
        cache.set("shared-client-probe", 1)
        cache.get("shared-client-probe")

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    work()

    assert len({id(backend) for backend in backends}) == 3  # Django's caches are per thread
    assert len(used) == 6
    assert len({id(client) for client in used}) == 1  # but every call went through one client
    assert used[0].connection_pool is caches["default"]._cache._get_connection_pool(True)


def _pooled_sockets() -> list[list]:
    """The local address of each idle connection of the process's pool (the last: just used)."""
    pool = caches["default"]._cache._get_connection_pool(True)
    return [list(connection._sock.getsockname()) for connection in pool._available_connections]


def test_a_forked_child_opens_its_own_connection_and_the_parents_still_works():
    """gunicorn's preloaded master or Celery's prefork parent forks with the pool built: the
    child must not talk on the parent's socket (redis-py's pool sees the new process id)."""
    cache.set("fork-probe", 7)
    parent_sockets = _pooled_sockets()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave without running any of pytest's teardown
        try:
            os.close(read_end)
            answer = {"value": cache.get("fork-probe"), "sockets": _pooled_sockets()}
            os.write(write_end, json.dumps(answer).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        answer = json.loads(pipe.read() or "{}")
    os.waitpid(pid, 0)

    assert answer["value"] == 7
    assert len(answer["sockets"]) == 1  # the inherited pool started over
    assert answer["sockets"][0] not in parent_sockets  # with its own connection
    cache.set("fork-probe", 8)  # the parent's connections were left alone by the child
    assert cache.get("fork-probe") == 8
    assert _pooled_sockets() == parent_sockets
