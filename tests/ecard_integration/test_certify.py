"""`manage.py ecard_certify` against the session's sandbox, over real HTTPS."""

import json
import re
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from ecard_integration.certification import LOCAL_CARD, wrong_pin_for
from ecard_integration.evidence import REQUIRED_TYPES
from ecard_integration.models import EcardTransaction, Source
from tests.factories import CLIENT_SECRET, effects, new_card_number

pytestmark = pytest.mark.django_db(transaction=True)

PIN = "73915046"  # a canary: never in the evidence
# A bearer token's value; `WWW-Authenticate: Bearer error="invalid_token"` (a 401) is not one.
BEARER_VALUE = re.compile(r"Bearer\s+(?!\[redacted\]|error=|realm=)[A-Za-z0-9._~+/=-]+")


FILES = ("evidence.csv", "evidence.json", "evidence.html")


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
    assert document["missing_types"] == []
    by_type = {}
    for tx in document["transactions"]:
        by_type.setdefault(tx["transaction_type"], []).append(tx)
    assert set(REQUIRED_TYPES) <= set(by_type)
    for label in REQUIRED_TYPES:
        for tx in by_type[label]:
            assert tx["created_at_utc"].endswith("Z")
            assert tx["created_at_local"]
            assert tx["card_number"] == LOCAL_CARD  # local sandbox test card: in full
            exchange = next(x for x in tx["exchanges"] if x["response"]["status"] == 200)
            assert exchange["request"]["method"] == "POST"
            assert exchange["request"]["url"].endswith("/" + tx["kind"])
            assert LOCAL_CARD in exchange["request"]["body"]
            assert exchange["request"]["headers"]
            assert exchange["response"]["status"] == 200
            assert exchange["response"]["body"]
            assert exchange["request_id"] == tx["request_id"]

    declined = by_type["Declined Redeem"][0]
    assert declined["response_code"] == "51"
    assert declined["balance"]  # the available balance is surfaced
    wrong_pin = scenario(document, "Redeem with a wrong PIN")
    assert wrong_pin["passed"]
    assert "55" in wrong_pin["actual"]

    replay = scenario(document, "Replayed request (idempotency)")
    assert replay["passed"]
    load = next(
        t for t in document["transactions"] if t["request_id"] == replay["transaction_request_id"]
    )
    answered = [x for x in load["exchanges"] if x["response"]["status"] == 200]
    original, replayed = answered[0], answered[-1]
    assert original["idempotent_replay"] is False
    assert replayed["idempotent_replay"] is True
    assert replayed["response"]["body"] == original["response"]["body"]
    assert replayed["request"]["sha256"] == original["request"]["sha256"]
    # The replay processed nothing a second time.
    assert len(effects(sandbox.ledger(), load["request_id"])) == 1

    for name, text in files.items():
        assert PIN not in text, name
        assert wrong_pin_for(PIN) not in text, name
        assert CLIENT_SECRET not in text, name
        assert not BEARER_VALUE.search(text), name
    assert "<script" not in files["evidence.html"]
    assert "http://" not in files["evidence.html"]
    assert "src=" not in files["evidence.html"]
    assert "Declined Redeem" in files["evidence.csv"]
    assert EcardTransaction.objects.exclude(source=Source.CERTIFICATION).count() == 0
    printed = capsys.readouterr().out
    assert "PASS" in printed
    assert "FAIL" not in printed


def test_card_numbers_can_be_masked(sandbox, tmp_path):
    call_command("ecard_certify", out=tmp_path, pin=PIN, budget=5, full_card_numbers=False)
    document, files = read_pack(tmp_path)
    for text in files.values():
        assert LOCAL_CARD not in text
    assert {tx["card_number"] for tx in document["transactions"]} == {f"•••• {LOCAL_CARD[-4:]}"}


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
    assert not scenario(document, "Declined Redeem")["passed"]
    assert "Declined Redeem" in document["missing_types"]
    assert scenario(document, "Load")["passed"]


def test_a_void_that_gets_no_answer_fails_the_run(sandbox, tmp_path):
    sandbox.set_faults([{"match": {"endpoint": "void-load"}, "action": "error_before"}])
    with pytest.raises(CommandError, match="scenarios failed"):
        call_command("ecard_certify", out=tmp_path, pin=PIN, budget=1)
    document, _ = read_pack(tmp_path)
    failed = [s["scenario"] for s in document["scenarios"] if not s["passed"]]
    assert failed == ["Void Load"]
    assert "unknown" in scenario(document, "Void Load")["actual"]


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
