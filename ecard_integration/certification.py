"""eCard's certification scenarios, run against the configured eCard, and their evidence pack.

Against the local sandbox (the default settings) the run creates its own test cards through the
sandbox's documented control API (and loses an answer by its fault injection); against eCard's
sandbox it uses the test cards eCard issued. It refuses eCard's production host. The scenarios
(the full test plan) are in `certification_scenarios`; `manage.py ecard_certify` is the command
line around `plan` and `certify`.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import requests
from django.conf import settings

from ecard_integration import evidence, probe, wire
from ecard_integration.certification_cases import wrong_pin_for
from ecard_integration.certification_scenarios import Certification, Plan
from ecard_integration.errors import CertificationError, EcardError
from ecard_integration.evidence import EvidencePack

__all__ = ["LOCAL_CARD", "LOCAL_PIN", "certify", "plan", "wrong_pin_for"]

# Used only on the local sandbox, where the run creates these cards itself.
LOCAL_CARD = "6006491900000017"
LOCAL_SECOND_CARD = "6006491900000025"
LOCAL_INACTIVE_CARD = "6006491900000033"
LOCAL_LOCK_CARD = "6006491900000041"
LOCAL_PIN = "4826"
# The local sandbox's control API (ecard_sandbox/README.md): not part of eCard, so it
# is reached over plain HTTPS here rather than through the eCard client.
SANDBOX_CONTROL_PATH = "/__sandbox__"
SANDBOX_CONTROL_TIMEOUT = 10.0
NO_CARD_HELP = (
    "give the test card with --card and --pin (eCard's sandbox test card). Against the local "
    "sandbox it makes its own: with `make run` up and DEBUG=1 it finds the sandbox's control key "
    "in var/sandbox/control-key (or set ECARD_SANDBOX_CONTROL_KEY)"
)


def refuse_production() -> None:
    if evidence.is_production():
        raise CertificationError(
            "ECARD_BASE_URL points at eCard's production host: certification runs against "
            "a sandbox only"
        )


def plan(options: dict, *, setup: bool) -> Plan:
    """Check the command's options (settings fill in the test cards) before anything is sent."""
    card = options["card"] or settings.ECARD_CERTIFICATION_CARD
    pin = options["pin"] or settings.ECARD_CERTIFICATION_PIN
    void_card = options["void_card"] or settings.ECARD_CERTIFICATION_VOID_CARD
    inactive, lock = options.get("inactive_card") or "", options.get("lock_card") or ""
    if setup:
        card, pin = card or LOCAL_CARD, pin or LOCAL_PIN
        void_card = void_card or LOCAL_SECOND_CARD
        inactive, lock = inactive or LOCAL_INACTIVE_CARD, lock or LOCAL_LOCK_CARD
    if not card or not pin:
        raise CertificationError(NO_CARD_HELP)
    try:
        card = wire.parse_card_number(card)
        pin = wire.parse_pin(pin)
        void_card = wire.parse_card_number(void_card) if void_card else card
        extra = {
            name: wire.parse_card_number(value)
            for name, value in (
                ("unknown_card", options.get("unknown_card")),
                ("inactive_card", inactive),
                ("lock_card", lock),
            )
            if value
        }
        for name in ("void_card_pin", "lock_card_pin"):
            if options.get(name):
                extra[name] = wire.parse_pin(options[name])
        wrong_pin = wire.parse_pin(options["wrong_pin"]) if options["wrong_pin"] else None
        for name in ("store_id", "terminal_id"):
            wire.parse_store_or_terminal_id(options[name] or "", field=name)
        load_amount = wire.parse_amount(str(options["load_amount"]))
        redeem_amount = wire.parse_amount(str(options["redeem_amount"]))
        declined = options["declined_amount"]
        declined_amount = wire.parse_amount(str(declined)) if declined is not None else None
    except EcardError as exc:
        raise CertificationError(f"{exc.field}: {exc.message}") from exc
    try:
        initial = wire.parse_amount(str(options["initial_balance"])) if setup else None
    except EcardError as exc:
        raise CertificationError(f"--initial-balance: {exc.message}") from exc
    return Plan(
        card=card,
        pin=pin,
        wrong_pin=wrong_pin or wrong_pin_for(pin),
        void_card=void_card,
        load_amount=load_amount,
        redeem_amount=redeem_amount,
        declined_amount=declined_amount,
        initial_balance=initial,
        budget=float(options["budget"] or settings.ECARD_STAFF_BUDGET_SECONDS),
        store_id=options["store_id"] or "",
        terminal_id=options["terminal_id"] or "",
        lose_answer=dropping_answers if setup else None,
        **extra,
    )


def create_local_cards(plan: Plan) -> int:
    """Create the plan's test cards on the local sandbox; returns how many."""
    cards = {plan.card: "active", plan.void_card: "active"}
    for card, status in ((plan.inactive_card, "inactive"), (plan.lock_card, "active")):
        if card:
            cards[card] = status
    for card, status in sorted(cards.items()):
        body = {"card_number": card, "balance": str(plan.initial_balance), "status": status}
        _control("POST", "/cards", {**body, "pin": plan.pin})
    return len(cards)


@contextmanager
def dropping_answers(card_number: str) -> Iterator[None]:
    """On the local sandbox: its redeems of this card are processed, their answers dropped."""
    rule = {"match": {"endpoint": "redeem", "card_number": card_number}}
    _control("POST", "/faults", {"rules": [{**rule, "action": "drop_after_commit"}]})
    try:
        yield
    finally:
        _control("DELETE", "/faults")


def _control(method: str, path: str, body: dict | None = None) -> None:
    """One call to the local sandbox's control API (not eCard's: plain HTTPS, no eCard client)."""
    if not settings.ECARD_SANDBOX_CONTROL_KEY:
        raise CertificationError("ECARD_SANDBOX_CONTROL_KEY is not set: no local sandbox to set up")
    if not settings.ECARD_CA_BUNDLE:
        raise CertificationError("ECARD_CA_BUNDLE is not set: the local sandbox cannot be trusted")
    root = settings.ECARD_BASE_URL.split("/api/")[0]
    failed = f"the local sandbox at {root} could not be set up"
    try:
        response = requests.request(
            method,
            f"{root}{SANDBOX_CONTROL_PATH}{path}",
            json=body,
            headers={"X-Sandbox-Key": settings.ECARD_SANDBOX_CONTROL_KEY},
            timeout=SANDBOX_CONTROL_TIMEOUT,
            verify=settings.ECARD_CA_BUNDLE,
        )
    except requests.RequestException as exc:
        raise CertificationError(f"{failed}: {exc}") from exc
    if not response.ok:
        raise CertificationError(f"{failed}: HTTP {response.status_code}: {response.text[:500]}")


@dataclass
class Report:
    """A finished run: its evidence, where it was written, and what went wrong."""

    pack: EvidencePack
    out: Path
    problems: list[str] = field(default_factory=list)


def default_out() -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path(settings.VAR_DIR) / "evidence" / stamp


def write_probe(report, out: Path | str | None = None) -> Path:
    """Write the probe's lines (probe.txt) and its exchanges (probe.json, redacted) into `out`."""
    folder = Path(out or default_out())
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "probe.txt").write_text(report.as_text(), encoding="utf-8")
    (folder / "probe.json").write_text(report.as_json(), encoding="utf-8")
    return folder


def certify(plan: Plan, *, full_card_numbers: bool, out: Path | None = None) -> Report:
    """Run every scenario and write the evidence pack (CSV, JSON, HTML) into `out`."""
    # The probe first: it moves no money, and a contract that differs explains what follows.
    probed = probe.run_probe(card=plan.card, pin=plan.pin, wrong_pin=plan.wrong_pin)
    run = Certification(plan)
    run.run()
    pack = evidence.build_evidence(
        run.rows, full_card_numbers=full_card_numbers, expectations=run.expectations
    )
    pack.probe_lines = probed.lines
    for failed in run.unattached:
        pack.scenarios.append(
            {**asdict(failed), "transaction_request_id": "", "transaction_type": ""}
        )
    report = Report(pack, Path(out or default_out()))
    evidence.write_pack(pack, report.out)
    write_probe(probed, report.out)
    failures = [s for s in pack.scenarios if not s["passed"]]
    missing = [t for t in evidence.REQUIRED_TYPES if t not in pack.types]
    if failures:
        report.problems.append(f"{len(failures)} of {len(pack.scenarios)} scenarios failed")
    if missing:
        report.problems.append(f"missing types: {', '.join(missing)}")
    if probed.differences:
        names = ", ".join(line.key for line in probed.differences)
        report.problems.append(f"the contract differs: {names}")
    return report
