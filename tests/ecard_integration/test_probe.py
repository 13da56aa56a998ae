"""The contract probe (`manage.py ecard_certify --probe`) against the session's sandbox over real
HTTPS: every line "as assumed" on the contract, and each difference named on a sandbox set to
differ (the sandbox's `contract` variations). The probe never moves money."""

import json

import pytest
from django.core.management import CommandError, call_command

from ecard_integration import probe
from ecard_integration.certification import LOCAL_CARD
from ecard_integration.models import EcardTransaction
from tests.ecard_integration.test_certify import BEARER_VALUE
from tests.factories import CLIENT_SECRET

pytestmark = pytest.mark.django_db(transaction=True)

PIN = "58204913"


def lines_of(report):
    return {line.key: line for line in report.lines}


def run(sandbox, card=None, **contract):
    if contract:
        sandbox.settings(contract=contract)
    return lines_of(probe.run_probe(card=card, pin=PIN if card else None, wrong_pin="69315024"))


def test_every_line_is_as_assumed_against_the_sandbox(sandbox, tmp_path, capsys):
    call_command("ecard_certify", probe=True, pin=PIN, out=tmp_path)
    printed = capsys.readouterr().out.splitlines()
    lines = [line for line in printed if line.split(":")[0] in probe.ASSUMPTIONS]
    assert [line.split(":")[0] for line in lines] == list(probe.ASSUMPTIONS)
    assert all(": as assumed (" in line for line in lines), lines
    assert "warning: the scope names no write permission" in printed[2]
    written = json.loads((tmp_path / "probe.json").read_text())
    assert {line["verdict"] for line in written["lines"]} == {"as assumed"}
    assert (tmp_path / "probe.txt").read_text().count("as assumed") == len(probe.ASSUMPTIONS)

    # No money moved: balance inquiries only, and the test card's wrong-PIN count back at zero.
    assert {entry["type"] for entry in sandbox.ledger()} == {"balance-inquiry"}
    card = sandbox.card(LOCAL_CARD)
    assert card["balance"] == "100.00"
    assert card["failed_pin_attempts"] == 0
    assert not card["locked"]
    stats = sandbox.stats()
    assert (stats["replays"], stats["conflicts"]) == (1, 1)
    assert EcardTransaction.objects.count() == 0  # not transactions of ours
    # Canaries: no PIN, secret or token in what the probe writes.
    text = (tmp_path / "probe.json").read_text() + (tmp_path / "probe.txt").read_text()
    for canary in (PIN, "69315024", CLIENT_SECRET):
        assert canary not in text
    token = next(e for e in written["exchanges"] if e["probe"] == "token")
    assert '"access_token":"[redacted]"' in token["response"]["body"]
    assert '"client_secret":"[redacted]"' in token["request"]["body"]
    inquiries = [e for e in written["exchanges"] if e["probe"] != "token"]
    assert {e["request"]["headers"]["Authorization"] for e in inquiries} == {"Bearer [redacted]"}
    assert not BEARER_VALUE.search(text)


def test_without_a_test_card_the_pin_line_is_not_checked(sandbox):
    lines = run(sandbox)
    assert lines["decline-wrong-pin"].verdict == probe.NOT_CHECKED
    assert "--card" in lines["decline-wrong-pin"].text
    others = [line for key, line in lines.items() if key != "decline-wrong-pin"]
    assert {line.verdict for line in others} == {probe.AS_ASSUMED}


DIFFERENCES = [
    # (variation, the line that must differ, what it must say it saw, the wire.py name it names)
    (
        {"transaction_prefix": "/api/transactions/v2/"},
        "transaction-path",
        "HTTP 404 not_found",
        "wire.transaction_url",
    ),
    ({"transaction_method": "GET"}, "transaction-method", "Allow: GET", "wire.TRANSACTION_METHOD"),
    ({"request_envelope": "flat"}, "request-envelope", "invalid_request", "wire.build_request"),
    (
        {"token_envelope": "flat"},
        "token-response",
        "members access_token",
        "wire.parse_token_response",
    ),
    (
        {"token_scope": "transactions:read"},
        "token-scope",
        'scope "transactions:read"',
        "wire.DOCUMENTED_SCOPE",
    ),
    (
        {"echo_request_id": False},
        "request-id-echo",
        "no X-Request-Id header",
        "wire.parse_transaction_response",
    ),
    (
        {"replay_header": "Idempotent-Replayed"},
        "replay",
        "Idempotent-Replayed: true",
        "wire.is_idempotent_replay",
    ),
    (
        {"conflict_status": 422, "conflict_code": "duplicate_request"},
        "conflict",
        "HTTP 422 duplicate_request",
        "wire.IDEMPOTENCY_CONFLICT",
    ),
    (
        {"error_envelope": "plain"},
        "malformed-request",
        "no errors[] list (members: error, error_description)",
        "wire.parse_error",
    ),
    ({"error_envelope": "plain"}, "unknown-path", "no errors[] list", "wire.parse_error"),
    (
        {"response_codes": {"14": "05"}},
        "decline-unknown-card",
        "declined 05",
        "wire.CARD_NOT_FOUND",
    ),
    ({"response_codes": {"55": "63"}}, "decline-wrong-pin", "declined 63", "wire.INCORRECT_PIN"),
    (
        {"attribute_names": {"balance": "available_balance"}},
        "balance-inquiry-answer",
        "no balance attribute",
        "wire.TRANSACTION_ATTRIBUTES",
    ),
]


@pytest.mark.parametrize(("contract", "key", "saw", "change"), DIFFERENCES)
def test_each_difference_is_named(sandbox, new_card, contract, key, saw, change):
    card = new_card("20.00", pin=PIN)
    lines = run(sandbox, card, **contract)
    line = lines[key]
    assert line.verdict == probe.DIFFERS, line.text
    assert saw in line.text
    assert change in line.text
    # The card is as it was: nothing but balance inquiries reached it.
    assert sandbox.card(card)["balance"] == "20.00"
    assert sandbox.card(card)["failed_pin_attempts"] == 0
    assert {entry["type"] for entry in sandbox.ledger()} <= {"balance-inquiry"}


def test_a_difference_fails_the_command(sandbox, tmp_path, capsys):
    sandbox.settings(contract={"echo_request_id": False})
    with pytest.raises(CommandError, match="differs in 1: request-id-echo"):
        call_command("ecard_certify", probe=True, pin=PIN, out=tmp_path)
    assert "request-id-echo: differs: saw no X-Request-Id" in capsys.readouterr().out


def test_a_wrong_test_pin_is_never_followed_by_a_wrong_one(sandbox, new_card):
    card = new_card("20.00", pin="11112222")
    lines = lines_of(probe.run_probe(card=card, pin=PIN, wrong_pin="69315024"))
    assert lines["decline-wrong-pin"].verdict == probe.NOT_CHECKED
    assert "PIN was refused" in lines["decline-wrong-pin"].text
    assert sandbox.card(card)["failed_pin_attempts"] == 1  # ours only; a right PIN clears it


def test_against_an_ecard_without_control_the_probe_runs_without_a_card(
    sandbox, settings, tmp_path, capsys
):
    settings.ECARD_SANDBOX_CONTROL_KEY = ""  # as against eCard's sandbox: no test card made
    call_command("ecard_certify", probe=True, out=tmp_path)
    printed = capsys.readouterr().out
    assert "decline-wrong-pin: not checked: no test card given (--card and --pin)" in printed
    assert printed.count(": as assumed (") == len(probe.ASSUMPTIONS) - 1
    assert sandbox.ledger()[0]["card_number"] == probe.UNKNOWN_CARD


def test_it_refuses_the_production_host(settings, tmp_path):
    settings.ECARD_BASE_URL = "https://platform.ecardsystems.com/api/transaction/v1"
    with pytest.raises(CommandError, match="production"):
        call_command("ecard_certify", probe=True, out=tmp_path)
