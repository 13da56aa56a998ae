"""`manage.py ecard_certify` against the session's sandbox, over real HTTPS."""

import json
import re
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from ecard_integration.certification import (
    LOCAL_CARD,
    LOCAL_INACTIVE_CARD,
    LOCAL_LOCK_CARD,
    LOCAL_SECOND_CARD,
    wrong_pin_for,
)
from ecard_integration.certification_record import Plan
from ecard_integration.certification_scenarios import Certification
from ecard_integration.evidence import REQUIRED_TYPES
from ecard_integration.fingerprint import current_build
from ecard_integration.models import EcardTransaction, Source
from tests.factories import CLIENT_SECRET, effects, new_card_number

pytestmark = pytest.mark.django_db(transaction=True)

PIN = "73915046"  # a canary: never in the evidence
# A bearer token's value; `WWW-Authenticate: Bearer error="invalid_token"` (a 401) is not one.
BEARER_VALUE = re.compile(r"Bearer\s+(?!\[redacted\]|error=|realm=)[A-Za-z0-9._~+/=-]+")


FILES = ("cover.txt", "cover.html", "evidence.csv", "evidence.json", "evidence.html")
LOCAL_CARDS = {LOCAL_CARD, LOCAL_SECOND_CARD, LOCAL_INACTIVE_CARD, LOCAL_LOCK_CARD}
UNKNOWN = Plan.unknown_card  # the dataclass default
# The test plan: Toast's gift-card cases and ours, every one in the pack (issue 17).
TEST_PLAN = (
    "Load",
    "Balance Inquiry with PIN",
    "Redeem with PIN",
    "Void Redeem",
    "Void Redeem restores the balance",
    "Void of an already-voided transaction: refused before sending",
    "Void of a transaction voided outside this app",
    "Redeem with a wrong PIN",
    "Order above the balance: declined with the balance available",
    "Redeem of the whole balance (card at 0.00)",
    "Order above the balance: the available balance applied",
    "Order above the balance: a second card pays the rest",
    "Order above the balance: first card at 0.00",
    "Load (to be voided)",
    "Void Load",
    "Unknown card: balance inquiry",
    "Unknown card: redeem",
    "Unknown card: load",
    "Inactive card: redeem",
    "Locked card: wrong PIN 3 of 3",
    "Locked card: redeem with the right PIN refused",
    "Replayed request (idempotency)",
    "Outcome learnt by reconciliation after a lost answer",
    "Clean-up: Void Redeem giving the test money back",
)


def read_pack(out):
    files = {name: (out / name).read_text(encoding="utf-8") for name in FILES}
    return json.loads(files["evidence.json"]), files


def scenario(document, name):
    return next(s for s in document["scenarios"] if s["scenario"] == name)


def test_a_certification_run_writes_the_whole_evidence_pack(sandbox, tmp_path, capsys):
    out = tmp_path / "pack"
    call_command("ecard_certify", out=out, pin=PIN, budget=5)
    document, files = read_pack(out)

    assert all(s["passed"] for s in document["scenarios"]), document["scenarios"]
    assert set(TEST_PLAN) <= {s["scenario"] for s in document["scenarios"]}
    assert document["missing_types"] == []
    by_id = {tx["request_id"]: tx for tx in document["transactions"]}
    for case in document["scenarios"]:
        if case["scenario"].endswith("refused before sending"):
            assert case["transaction_request_id"] == ""  # nothing sent, by design
            assert case["shown"].startswith("Staff (admin): ")
            continue
        tx = by_id[case["transaction_request_id"]]
        assert case["expected"]
        assert case["actual"]
        who = "Guest" if tx["kind"] in ("redeem", "balance-inquiry") else "Staff"
        assert case["shown"].startswith(who), case
        answered = [x for x in tx["exchanges"] if x["response"]["status"]]
        assert answered, case
        for exchange in answered:
            assert exchange["request"]["method"] == "POST"
            assert exchange["request"]["url"].endswith("/" + tx["kind"])
            assert exchange["request"]["body"]
            assert exchange["request"]["headers"]
            assert exchange["response"]["body"]
            assert exchange["request_id"] == tx["request_id"]
    by_type = {}
    for tx in document["transactions"]:
        by_type.setdefault(tx["transaction_type"], []).append(tx)
    assert set(REQUIRED_TYPES) <= set(by_type)
    for tx in document["transactions"]:
        assert tx["created_at_utc"].endswith("Z")
        assert tx["created_at_local"]
        assert tx["card_number"] in {*LOCAL_CARDS, UNKNOWN}  # local test cards: in full
        assert tx["card_number"] in tx["exchanges"][0]["request"]["body"]

    declined = by_type["Declined Redeem"][0]
    assert declined["response_code"] == "51"
    assert declined["balance"] == "110.00"  # the available balance is surfaced
    insufficient = scenario(
        document, "Order above the balance: declined with the balance available"
    )
    assert "$110.00 available" in insufficient["shown"]
    split = scenario(document, "Order above the balance: the available balance applied")
    assert "$1.00 is still due" in split["shown"]
    assert scenario(document, "Order above the balance: first card at 0.00")["actual"].endswith(
        "balance 0.00"
    )
    wrong_pin = scenario(document, "Redeem with a wrong PIN")
    assert "55" in wrong_pin["actual"]
    assert "not right" in wrong_pin["shown"]
    assert "75" in scenario(document, "Locked card: redeem with the right PIN refused")["actual"]
    assert "79" in scenario(document, "Void of a transaction voided outside this app")["actual"]
    assert "62" in scenario(document, "Inactive card: redeem")["actual"]

    replay = scenario(document, "Replayed request (idempotency)")
    load = by_id[replay["transaction_request_id"]]
    answered = [x for x in load["exchanges"] if x["response"]["status"] == 200]
    original, replayed = answered[0], answered[-1]
    assert original["idempotent_replay"] is False
    assert replayed["idempotent_replay"] is True
    assert replayed["response"]["body"] == original["response"]["body"]
    assert replayed["request"]["sha256"] == original["request"]["sha256"]
    # The replay processed nothing a second time.
    assert len(effects(sandbox.ledger(), load["request_id"])) == 1

    lost = scenario(document, "Outcome learnt by reconciliation after a lost answer")
    redeem = by_id[lost["transaction_request_id"]]
    assert redeem["exchanges"][0]["response"]["status"] is None  # the answer never came
    assert redeem["exchanges"][0]["error"]
    last = redeem["exchanges"][-1]
    assert last["reconciliation"] is True
    assert last["idempotent_replay"] is True
    assert {x["request_id"] for x in redeem["exchanges"]} == {redeem["request_id"]}
    assert len({x["request"]["sha256"] for x in redeem["exchanges"]}) == 1
    assert len(effects(sandbox.ledger(), redeem["request_id"])) == 1  # processed once
    assert lost["shown"].startswith("Guest (kiosk and online): We are confirming")

    # The run gave back what it took: the test cards hold what they held, plus the one load.
    assert sandbox.card(LOCAL_CARD)["balance"] == "110.00"
    assert sandbox.card(LOCAL_SECOND_CARD)["balance"] == "100.00"

    for name, text in files.items():
        assert PIN not in text, name
        assert wrong_pin_for(PIN) not in text, name
        assert CLIENT_SECRET not in text, name
        assert not BEARER_VALUE.search(text), name
    for name in ("evidence.html", "cover.html"):
        assert "<script" not in files[name]
        assert "http://" not in files[name]
        assert "src=" not in files[name]
    assert "Declined Redeem" in files["evidence.csv"]
    assert EcardTransaction.objects.exclude(source=Source.CERTIFICATION).count() == 0
    printed = capsys.readouterr().out
    assert "PASS" in printed
    assert "FAIL" not in printed


def test_the_cover_is_one_page_a_reviewer_reads_without_our_tools(sandbox, tmp_path):
    call_command("ecard_certify", out=tmp_path, pin=PIN, budget=5)
    document, files = read_pack(tmp_path)
    cover = document["cover"]
    counts = dict(cover["counts_by_type"])
    assert list(counts)[:6] == list(REQUIRED_TYPES)
    assert sum(counts.values()) == cover["transactions"] == len(document["transactions"])
    assert counts["Declined Redeem"] == 1
    assert cover["test_cards"][0].startswith(LOCAL_CARD)
    assert cover["build"] == current_build().fingerprint
    assert cover["probe"] == "13 of 13 assumptions as assumed"
    assert " to " in cover["date_range_utc"]
    text = files["cover.txt"]
    assert len(text.splitlines()) < 60  # one page
    for fact in ("Date range (UTC)", "Test cards", LOCAL_CARD, current_build().fingerprint):
        assert fact in text
    assert "Void Load" in files["cover.html"]
    assert current_build().fingerprint in files["evidence.html"]
    probe_text = (tmp_path / "probe.txt").read_text()
    assert probe_text.count("as assumed") == 13
    assert PIN not in probe_text


def test_card_numbers_can_be_masked(sandbox, tmp_path):
    call_command("ecard_certify", out=tmp_path, pin=PIN, budget=5, full_card_numbers=False)
    document, files = read_pack(tmp_path)
    for text in files.values():
        assert LOCAL_CARD not in text
    masked = {f"•••• {card[-4:]}" for card in {*LOCAL_CARDS, UNKNOWN}}
    assert {tx["card_number"] for tx in document["transactions"]} <= masked


def test_a_redeem_that_is_not_declined_fails_the_run(sandbox, tmp_path):
    card = new_card_number()
    sandbox.create_card(card, Decimal("5000.00"), pin=PIN)
    with pytest.raises(CommandError, match="scenarios failed"):
        call_command(
            "ecard_certify",
            out=tmp_path,
            card=card,
            pin=PIN,
            declined_amount="50.00",
            setup_sandbox_cards=False,
            budget=5,
        )
    document, _ = read_pack(tmp_path)
    assert not scenario(document, "Order above the balance: declined with the balance available")[
        "passed"
    ]
    assert "Declined Redeem" in document["missing_types"]
    assert scenario(document, "Load")["passed"]


def test_a_void_that_gets_no_answer_fails_the_run(sandbox, tmp_path):
    sandbox.set_faults([{"match": {"endpoint": "void-load"}, "action": "error_before"}])
    with pytest.raises(CommandError, match="scenarios failed"):
        call_command("ecard_certify", out=tmp_path, pin=PIN, budget=1)
    document, _ = read_pack(tmp_path)
    failed = [s for s in document["scenarios"] if not s["passed"]]
    assert failed[0]["scenario"] == "Void Load"
    assert "unknown" in scenario(document, "Void Load")["actual"]
    # The void left in flight keeps its card busy: later cases on that card say so, unsent.
    for case in failed[1:]:
        assert "still in progress" in case["actual"], case


def test_it_refuses_the_production_host(settings, tmp_path):
    settings.ECARD_BASE_URL = "https://platform.ecardsystems.com/api/transaction/v1"
    with pytest.raises(CommandError, match="production"):
        call_command("ecard_certify", out=tmp_path)
    assert EcardTransaction.objects.count() == 0


def test_it_needs_a_card_when_it_cannot_create_one(tmp_path):
    with pytest.raises(CommandError, match="--card"):
        call_command("ecard_certify", out=tmp_path, setup_sandbox_cards=False)
    assert EcardTransaction.objects.count() == 0


def test_a_second_card_can_carry_the_load_to_void(sandbox, tmp_path):
    call_command("ecard_certify", out=tmp_path, pin=PIN, void_card=new_card_number(), budget=5)
    document, _ = read_pack(tmp_path)
    assert scenario(document, "Load (to be voided)")["passed"]
    void_load = next(t for t in document["transactions"] if t["transaction_type"] == "Void Load")
    to_void = scenario(document, "Load (to be voided)")["transaction_request_id"]
    assert void_load["original_request_id"] == to_void
    assert scenario(document, "Void Load")["passed"]


def test_options_are_checked_before_anything_is_sent(sandbox, tmp_path):
    with pytest.raises(CommandError, match="store_id"):
        call_command("ecard_certify", out=tmp_path, pin=PIN, store_id="not valid!")
    with pytest.raises(CommandError, match="pin"):
        call_command("ecard_certify", out=tmp_path, pin="12")
    assert EcardTransaction.objects.count() == 0
    assert sandbox.ledger() == []


def test_the_documented_command_works_from_a_second_shell_with_make_run_up(
    sandbox, settings, tmp_path, capsys
):
    """`DEBUG=1 python manage.py ecard_certify`, no options: the key `make run` wrote for its
    sandbox is found (DEBUG, loopback only) and the command creates its own local test card."""
    from config.settings import local_sandbox_control_key

    key_file = tmp_path / "control-key"
    key_file.write_text(settings.ECARD_SANDBOX_CONTROL_KEY + "\n")
    assert local_sandbox_control_key(key_file, "https://eCard.example.com/api/v1") == ""
    assert local_sandbox_control_key(tmp_path / "absent", settings.ECARD_BASE_URL) == ""
    settings.ECARD_SANDBOX_CONTROL_KEY = local_sandbox_control_key(
        key_file, settings.ECARD_BASE_URL
    )

    call_command("ecard_certify", out=tmp_path / "pack")

    document, _files = read_pack(tmp_path / "pack")
    assert all(s["passed"] for s in document["scenarios"]), document["scenarios"]
    assert sandbox.card(LOCAL_CARD) is not None
    assert "Sandbox test cards created" in capsys.readouterr().out


def test_without_a_card_it_says_how_to_reach_the_local_sandbox(settings, tmp_path):
    settings.ECARD_SANDBOX_CONTROL_KEY = ""
    with pytest.raises(CommandError, match="make run"):
        call_command("ecard_certify", out=tmp_path)


def test_without_fault_injection_an_answer_is_lost_by_not_waiting_for_it(sandbox, new_card):
    """Against eCard's sandbox the lost answer is a read timeout too short for any answer (the
    local sandbox made slow here so that none comes in time): the same case passes."""
    card = new_card("50.00", pin=PIN)
    run = Certification(
        Plan(
            card=card,
            pin=PIN,
            wrong_pin=wrong_pin_for(PIN),
            void_card=card,
            load_amount=Decimal("10.00"),
            redeem_amount=Decimal("5.00"),
            declined_amount=None,
            initial_balance=None,
            budget=3,
        )
    )
    run.balance_inquiry(None)  # earlier cases of a run have fetched the token
    sandbox.settings(latency_seconds=0.2)
    row = run.lost_answer()
    sandbox.settings(latency_seconds=0)

    (verdict,) = run.expectations[row.pk]
    assert verdict.passed, verdict
    assert "first answer lost (ReadTimeout)" in verdict.actual
    assert sandbox.card(card)["balance"] == "48.00"  # processed once, learnt by the replay
    assert len(effects(sandbox.ledger(), row.request_id)) == 1
