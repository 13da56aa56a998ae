"""The chaos report names the culprit of invariants 1 and 3, card numbers masked."""

import pytest

from ecard_integration import services
from ecard_integration.models import EcardTransaction, Source, State
from tests.chaos.runner import CANARY_PIN, ChaosRun

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_row_out_of_step_with_ecard_is_named_with_its_exchanges_and_ecards_entry(sandbox):
    run = ChaosRun(sandbox=sandbox, size=1, seed=5, concurrency=1)
    run.setup_cards()
    card = run.cards[0][0]
    loaded = services.load(card_number=card, amount="12.00", source=Source.STAFF)
    # What the bug did: eCard approved the load, our row says nothing was processed.
    EcardTransaction.objects.filter(id=loaded.id).update(
        state=State.REJECTED, error_code="invalid_token"
    )
    log = f"WARNING ecard_integration.ledger eCard load {loaded.request_id}: outcome unknown"

    report = run.check(log_text=log, secret_scan="")

    assert report.invariants["1. card balance differs from the sandbox's"] == 1
    assert report.invariants["3. sandbox transaction without its ledger row, or vice versa"] == 1
    text = report.text()
    assert f"invariant 1: card •••• {card[-4:]} ours 500.00 eCard 512.00 (eCard +12.00)" in text
    assert f"invariant 3: request {loaded.request_id}" in text
    ours = f"ours: load {loaded.request_id} card •••• {card[-4:]} state=rejected attempts="
    assert ours in text
    assert "error_code=invalid_token" in text
    assert any("exchange " in line and "status=200" in line for line in text.splitlines())
    assert f"eCard: load {loaded.request_id} card •••• {card[-4:]} status=approved" in text
    assert f"log: {log}" in text
    assert card not in text
    assert CANARY_PIN not in text


def test_a_clean_run_names_no_culprit(sandbox):
    run = ChaosRun(sandbox=sandbox, size=1, seed=5, concurrency=1)
    run.setup_cards()
    services.load(card_number=run.cards[0][0], amount="12.00", source=Source.STAFF)

    report = run.check(log_text="", secret_scan="")

    assert report.violations == 0
    assert "culprits" not in report.text()
