"""Canary scan: a PIN, the client secret, a token and card numbers driven through every
ecard_integration path (services, faults and reconciliation, staff admin, certification) never
appear in a log record, a database row, the cache or an evidence file, except card numbers masked,
and in full only in sandbox certification evidence (documented)."""

import io
import logging
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from config.logging import RedactingFilter
from ecard_integration import reconciliation, services
from ecard_integration.client import get_client
from ecard_integration.models import EcardTransaction, Source, State
from tests.ecard_integration.test_reconciliation import make_due
from tests.factories import CLIENT_SECRET
from tests.scan import dump_database, dump_redis

pytestmark = pytest.mark.django_db(transaction=True)
CANARY_PIN = "60718293"
CANARY_CARD = "6123987654321098"
CERT_CARD = "6123987654329999"


class Recorder(logging.Handler):
    """Keeps every raw record (before any filter) and the filtered, formatted output."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.raw: list[str] = []
        self.output = io.StringIO()
        self.redact = RedactingFilter()

    def emit(self, record):
        raw = record.getMessage()
        if record.exc_info:
            raw += logging.Formatter().formatException(record.exc_info)
        self.raw.append(raw)
        self.redact.filter(record)
        self.output.write(self.format(record) + "\n")


@pytest.fixture
def recorder():
    handler = Recorder()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(previous)


def current_token() -> str:
    memo = get_client().tokens._memo
    assert memo is not None
    return memo.access_token


def test_no_canary_leaks_from_any_path(sandbox, client, recorder, tmp_path, settings):
    sandbox.create_card(CANARY_CARD, Decimal("80.00"), pin=CANARY_PIN)
    # Guest paths, a decline, a wrong PIN.
    services.balance_inquiry(card_number=CANARY_CARD, pin=CANARY_PIN, source=Source.KIOSK)
    redeemed = services.redeem(
        card_number=CANARY_CARD, amount="5.00", pin=CANARY_PIN, source=Source.ONLINE
    )
    services.redeem(card_number=CANARY_CARD, amount="500.00", pin=CANARY_PIN, source=Source.KIOSK)
    services.redeem(card_number=CANARY_CARD, amount="1.00", pin="00000000", source=Source.KIOSK)
    token = current_token()
    # A lost answer, then reconciliation replays the stored (PIN-bearing) bytes.
    sandbox.set_faults([{"match": {"endpoint": "redeem"}, "action": "drop_after_commit"}])
    lost = services.redeem(
        card_number=CANARY_CARD,
        amount="2.00",
        pin=CANARY_PIN,
        source=Source.KIOSK,
        budget_seconds=1,
    )
    sandbox.clear_faults()
    make_due(lost)
    assert reconciliation.reconcile(lost.id) == State.APPROVED
    # Staff: the admin pages, a void, a load.
    staff = get_user_model().objects.create_superuser("canary-admin", "a@example.com", "pw-x-123")
    client.force_login(staff)
    pages = [
        client.get("/admin/ecard_integration/ecardtransaction/").content,
        client.get(f"/admin/ecard_integration/ecardtransaction/{redeemed.id}/change/").content,
        client.get(f"/admin/ecard_integration/ecardtransaction/{lost.id}/change/").content,
        client.get("/admin/ecard_integration/ecardexchange/").content,
    ]
    services.void(original=redeemed, source=Source.STAFF, requested_by=staff, reason="canary")
    services.load(card_number=CANARY_CARD, amount="3.00", source=Source.STAFF, requested_by=staff)
    # Certification, into a pack on disk.
    out = tmp_path / "evidence"
    call_command(
        "ecard_certify", card=CERT_CARD, pin=CANARY_PIN, out=str(out), stdout=io.StringIO()
    )
    evidence = "\n".join(p.read_text() for p in Path(out).rglob("*") if p.is_file())

    secrets = {"PIN": CANARY_PIN, "client secret": CLIENT_SECRET, "token": token}
    stores = {
        "database": dump_database(),
        "log output": recorder.output.getvalue(),
        "raw log records": "\n".join(recorder.raw),
        "admin pages": b"\n".join(pages).decode(),
        "evidence pack": evidence,
    }
    if settings.REDIS_URL:
        stores["redis"] = dump_redis(settings.REDIS_URL)
    for store, text in stores.items():
        for name, secret in secrets.items():
            assert secret not in text, f"{name} found in {store}"
        if store != "evidence pack":  # sandbox test cards are shown in full there, by design
            assert CANARY_CARD not in text, f"card number found in {store}"
            assert CERT_CARD not in text, f"card number found in {store}"
    assert "•••• 1098" in stores["admin pages"]
    assert CERT_CARD in evidence  # documented: full numbers in local-sandbox evidence
    assert EcardTransaction.objects.filter(replay_ciphertext__isnull=False).count() == 0
