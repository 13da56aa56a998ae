"""The console receipt, written to the worker's log, keeps its Message-ID whole, is not logged as
a warning, and its order link carries no access token."""

import re
import time

import pytest

from tests.factories import make_order, pay
from tests.processes import CeleryProcess

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]
SITE = "https://shop.example.com"


def test_the_console_receipt_in_the_worker_log(sandbox, sandbox_process, items, new_card, tmp_path):
    card = new_card("20.00")
    worker = CeleryProcess("worker", sandbox_process, log_path=tmp_path / "w.log", SITE_URL=SITE)
    with worker:
        worker.wait_ready()
        order = make_order([(items["latte"], 1)])
        assert pay(order, card).kind == "paid"
        link = f"See your order: {SITE}/orders/{order.number}/"
        deadline = time.monotonic() + 30
        while link not in worker.log_text():
            assert time.monotonic() < deadline, worker.log_text()[-3000:]
            time.sleep(0.2)
        log = worker.log_text()
    order.refresh_from_db()
    assert order.access_token not in log
    assert f"{link}[redacted]/" in log
    # Django's ids are <time.pid.random@host>: whole, not taken for a card number.
    assert re.search(r"Message-ID: <[0-9]+\.[0-9]+\.[0-9]+@[^>]+>", log), log[-3000:]
    assert "WARNING celery.redirected" not in log
