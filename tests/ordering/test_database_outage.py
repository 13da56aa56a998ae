"""A guest charged while the database fails: against a real PostgreSQL that is stopped
(`pg_ctl stop -m immediate`) while eCard holds the redeem's answer, under the web app running as
a real process.

The guest must see a page that says the payment is being confirmed and links the order (never a
bare 500); once the database is back, reconciliation learns the approval and the order is paid
with its tender linked, and the order sweep at checkout timeout keeps it paid (it used to cancel
it as abandoned and void the guest's money).
"""

import json
import re
import subprocess
import sys
import threading
import time
import uuid
from decimal import Decimal

import pytest
import requests

from tests.factories import PIN, new_card_number, using_redis
from tests.processes import ROOT, PostgresCluster, _wait_for_port, free_port, process_env

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not PostgresCluster.available(), reason="PostgreSQL 15 binaries missing"),
]

SEED = """
import json
from decimal import Decimal
from ordering import services
from ordering.models import Category, Item
item = Item.objects.create(
    category=Category.objects.create(name="Coffee"), name="Latte", price=Decimal("4.50")
)
order = services.start_checkout(
    entries=[services.CartEntry(item.id, 2, item.price)], expected_total=Decimal("9.00"),
    guest_name="Ada",
)
from django.urls import reverse
path = reverse("ordering:order", args=[order.number, order.access_token])
print(json.dumps({"number": order.number, "path": path}))
"""

STATE = """
import json
from ordering.models import Order
order = Order.objects.get(number=NUMBER)
tenders = [
    {"status": t.status, "transaction": t.transaction_id,
     "state": t.transaction.state if t.transaction else None}
    for t in order.tenders.select_related("transaction")
]
print(json.dumps({"status": order.status, "tenders": tenders}))
"""

# Time passing, in the database: the redeem is due for reconciliation (its lease, set for the
# guest's request, would run out ~50 s later) and then the checkout has timed out.
MAKE_DUE = """
from datetime import timedelta
from django.db.models.functions import Now
from ecard_integration.models import EcardTransaction
EcardTransaction.objects.filter(caller_reference=NUMBER).update(
    next_attempt_at=Now() - timedelta(seconds=1)
)
"""
RECONCILE = "from ecard_integration import reconciliation; print(reconciliation.reconcile_due())"
TIME_OUT_AND_SWEEP = """
from datetime import timedelta
from django.db.models.functions import Now
from ordering import services
from ordering.models import Order
long_ago = Now() - timedelta(seconds=services.checkout_timeout_seconds() + 600)
Order.objects.filter(number=NUMBER).update(created_at=long_ago, updated_at=long_ago)
print(services.expire_abandoned_orders())
"""


def wait_until(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def stack(tmp_path, sandbox_process, sandbox):
    """A private PostgreSQL, migrated, and the web app (runserver) on it."""
    with PostgresCluster(tmp_path) as pg:
        pg.create_database("app")
        queue = f"pgdown-{uuid.uuid4().hex[:8]}"  # nobody consumes it: the test runs the steps
        env = process_env(sandbox_process, DATABASE_URL=pg.url("app"), CELERY_QUEUE=queue)

        def django(code: str, number: str = "") -> str:
            done = subprocess.run(
                [sys.executable, "manage.py", "shell", "-c", code.replace("NUMBER", repr(number))],
                cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr[-3000:]
            return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""

        migrate = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert migrate.returncode == 0, migrate.stderr[-3000:]
        port = free_port()
        log = open(tmp_path / "web.log", "wb")  # noqa: SIM115 - closed below
        web = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", "--skip-checks",
             f"127.0.0.1:{port}"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            _wait_for_port(port, 30, web)
            yield {"pg": pg, "django": django, "base": f"http://127.0.0.1:{port}", "log": tmp_path}
        finally:
            web.terminate()
            web.wait(timeout=15)
            log.close()
            if using_redis():
                import redis
                from django.conf import settings

                client = redis.Redis.from_url(settings.REDIS_URL)
                client.delete(queue)
                client.close()


def test_a_guest_charged_while_the_database_fails_gets_a_paid_order(stack, sandbox):
    django, pg, base = stack["django"], stack["pg"], stack["base"]
    order = json.loads(django(SEED))
    order_path = order["path"]
    card = new_card_number()
    sandbox.create_card(card, Decimal("50.00"), pin=PIN)

    guest = requests.Session()
    page = guest.get(base + order_path, timeout=30)
    assert page.status_code == 200, page.text[:500]
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    key = re.search(r'name="attempt_key" value="([^"]+)"', page.text).group(1)
    # eCard processes the redeem, then holds its answer 3 s: the database stops meanwhile.
    sandbox.set_faults(
        [{"match": {"endpoint": "redeem"}, "action": "delay", "seconds": 3, "when": "after",
          "times": 1}]
    )  # fmt: skip
    answer = {}

    def pay():
        answer["response"] = guest.post(
            base + order_path + "pay/",
            data={"csrfmiddlewaretoken": csrf, "attempt_key": key, "card_number": card,
                  "pin": PIN, "amount": ""},
            headers={"Referer": base + order_path},
            timeout=60,
            allow_redirects=False,
        )  # fmt: skip

    payer = threading.Thread(target=pay)
    payer.start()
    wait_until(lambda: [e for e in sandbox.ledger() if e["type"] == "redeem"], 15, "eCard's redeem")
    pg.stop("immediate")
    payer.join(timeout=60)
    time.sleep(1)  # a few seconds down, as in the report
    pg.start()
    sandbox.clear_faults()

    response = answer["response"]
    assert response.status_code == 503, response.text[:2000]
    assert "We are confirming your payment" in response.text
    assert f'href="{order_path}"' in response.text
    assert "Please do not pay again" in response.text

    # Left as the report found it: paying, its tender pending with no transaction linked.
    state = json.loads(django(STATE, order["number"]))
    assert state["status"] == "paying"
    assert state["tenders"][0]["transaction"] is None

    # Reconciliation learns the approval; the ledger tells ordering, which pays the order.
    django(MAKE_DUE, order["number"])
    django(RECONCILE)
    state = json.loads(django(STATE, order["number"]))
    assert state["status"] == "paid", state
    assert state["tenders"][0]["status"] == "approved"
    assert state["tenders"][0]["transaction"] is not None
    assert state["tenders"][0]["state"] == "approved"

    # At checkout timeout the sweep leaves it paid: never cancelled, never voided.
    assert django(TIME_OUT_AND_SWEEP, order["number"]) == "0"
    assert json.loads(django(STATE, order["number"]))["status"] == "paid"
    redeems = [e for e in sandbox.ledger() if e["type"] == "redeem"]
    assert len(redeems) == 1
    assert not redeems[0]["voided"]
    assert not [e for e in sandbox.ledger() if e["type"] == "void-redeem"]
    assert sandbox.card(card)["balance"] == "41.00"
