"""Run eCard's certification scenarios against the configured eCard and write the evidence pack.

    manage.py ecard_certify [--card N --pin P] [--out DIR] [--setup-sandbox-cards] ...

Against the local sandbox (the default settings) it creates its own test card; against eCard's
sandbox give the test card eCard issued (`--card`, `--pin`, or the settings
`ECARD_CERTIFICATION_CARD` / `ECARD_CERTIFICATION_PIN`). It refuses eCard's production host.
Scenarios: Load, Redeem with a wrong PIN (55), Balance Inquiry with PIN, Redeem with PIN, Declined
Redeem (51, with the available balance), Void Redeem, Void Load, and a replay of the load's exact
bytes under its request id (eCard must answer from its idempotency store). The exit status is
non-zero when any scenario did not behave as expected.
"""

from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ecard_integration import crypto, evidence, services, wire
from ecard_integration.client import get_client
from ecard_integration.errors import EcardError
from ecard_integration.evidence import Expectation
from ecard_integration.models import EcardTransaction, Source, State

# Used only on the local sandbox, which this command seeds itself.
LOCAL_CARD = "6006491900000017"
LOCAL_VOID_CARD = "6006491900000025"
LOCAL_PIN = "4826"
ONE_CENT = Decimal("0.01")


def wrong_pin_for(pin: str) -> str:
    """A PIN of the same length that is surely not this one."""
    return "".join(str((int(digit) + 1) % 10) for digit in pin)


def describe(row: EcardTransaction | None) -> str:
    """What happened to a transaction, in one line."""
    if row is None:
        return "no transaction"
    parts = [row.get_state_display().lower()]
    if row.response_code:
        parts.append(f"{row.response_code} ({wire.describe_code(row.response_code)})")
    if row.error_code:
        parts.append(f"error {row.error_code}")
    if row.amount_applied is not None:
        parts.append(f"applied {row.amount_applied:.2f}")
    if row.balance is not None:
        parts.append(f"balance {row.balance:.2f}")
    return ", ".join(parts)


class Certification:
    """One run of the scenarios; collects the rows and the expectations for the evidence."""

    def __init__(self, options: dict):
        self.card = options["card"]
        self.void_card = options["void_card"] or self.card
        self.pin = options["pin"]
        self.wrong_pin = options["wrong_pin"] or wrong_pin_for(self.pin)
        self.load_amount = wire.parse_amount(str(options["load_amount"]))
        self.redeem_amount = wire.parse_amount(str(options["redeem_amount"]))
        self.declined_amount = options["declined_amount"]
        self.initial_balance = options["initial_balance"]
        self.budget = float(options["budget"])
        self.store_id = options["store_id"] or ""
        self.terminal_id = options["terminal_id"] or ""
        self.rows: list[EcardTransaction] = []
        self.expectations: dict[int, list[Expectation]] = {}
        self.unattached: list[Expectation] = []

    # --- Bookkeeping ------------------------------------------------------------------------

    def call(self, scenario: str, expected: str, service: Callable[[], EcardTransaction]):
        """Run one service call; a call that raises is a failed scenario with no row."""
        try:
            row = service()
        except EcardError as exc:
            self.unattached.append(
                Expectation(scenario, expected, f"not sent: {exc.message}", passed=False)
            )
            return None
        self.rows.append(row)
        return row

    def expect(self, scenario: str, row, expected: str, checks: list[bool], actual: str = ""):
        verdict = Expectation(scenario, expected, actual or describe(row), all(checks))
        if row is None:
            self.unattached.append(verdict)
        else:
            self.expectations.setdefault(row.pk, []).append(verdict)
        return verdict.passed

    def skip(self, scenario: str, expected: str, why: str) -> None:
        self.unattached.append(Expectation(scenario, expected, f"not run: {why}", passed=False))

    def common(self) -> dict:
        return {
            "source": Source.CERTIFICATION,
            "store_id": self.store_id,
            "terminal_id": self.terminal_id,
            "budget_seconds": self.budget,
        }

    # --- Scenarios ----------------------------------------------------------------------------

    def run(self) -> None:
        load = self.load(self.card, "Load")
        self.wrong_pin_redeem()
        inquiry = self.balance_inquiry(load)
        redeem = self.redeem(inquiry)
        self.declined_redeem(redeem, inquiry)
        self.void("Void Redeem", redeem, self.redeem_amount)
        if self.void_card != self.card:
            load_to_void = self.load(self.void_card, "Load (to be voided)")
        else:
            load_to_void = load
        self.void("Void Load", load_to_void, self.load_amount)
        self.replay(load)

    def load(self, card: str, scenario: str):
        expected = f"approved 00, {self.load_amount:.2f} applied, new balance reported"
        row = self.call(
            scenario,
            expected,
            lambda: services.load(
                card_number=card,
                amount=self.load_amount,
                reference="certification-load",
                reason="certification run",
                **self.common(),
            ),
        )
        if row is None:
            return None
        checks = [
            row.state == State.APPROVED,
            row.response_code == wire.APPROVED,
            bool(row.approval_code),
            row.amount_applied == self.load_amount,
            row.balance is not None,
        ]
        if self.initial_balance is not None and card == self.card:
            expected = f"approved 00, balance {self.initial_balance + self.load_amount:.2f}"
            checks.append(row.balance == self.initial_balance + self.load_amount)
        self.expect(scenario, row, expected, checks)
        return row

    def wrong_pin_redeem(self):
        expected = "declined 55 (incorrect PIN), nothing applied"
        row = self.call(
            "Redeem with a wrong PIN",
            expected,
            lambda: services.redeem(
                card_number=self.card,
                amount=self.redeem_amount,
                pin=self.wrong_pin,
                reference="certification-wrong-pin",
                **self.common(),
            ),
        )
        if row is not None:
            self.expect(
                "Redeem with a wrong PIN",
                row,
                expected,
                [
                    row.state == State.DECLINED,
                    row.response_code == wire.INCORRECT_PIN,
                    not row.amount_applied,
                ],
            )
        return row

    def balance_inquiry(self, load):
        expected = "approved 00, balance reported"
        row = self.call(
            "Balance Inquiry with PIN",
            expected,
            lambda: services.balance_inquiry(
                card_number=self.card,
                pin=self.pin,
                reference="certification-balance",
                **self.common(),
            ),
        )
        if row is None:
            return None
        checks = [row.state == State.APPROVED, row.response_code == wire.APPROVED]
        checks.append(row.balance is not None)
        if load is not None and load.balance is not None:
            expected = f"approved 00, balance {load.balance:.2f} (unchanged since the load)"
            checks.append(row.balance == load.balance)
        self.expect("Balance Inquiry with PIN", row, expected, checks)
        return row

    def redeem(self, inquiry):
        expected = f"approved 00, {self.redeem_amount:.2f} applied"
        row = self.call(
            "Redeem with PIN",
            expected,
            lambda: services.redeem(
                card_number=self.card,
                amount=self.redeem_amount,
                pin=self.pin,
                reference="certification-redeem",
                **self.common(),
            ),
        )
        if row is None:
            return None
        checks = [
            row.state == State.APPROVED,
            row.response_code == wire.APPROVED,
            bool(row.approval_code),
            row.amount_applied == self.redeem_amount,
        ]
        if inquiry is not None and inquiry.balance is not None:
            after = inquiry.balance - self.redeem_amount
            expected = f"approved 00, {self.redeem_amount:.2f} applied, balance {after:.2f}"
            checks.append(row.balance == after)
        self.expect("Redeem with PIN", row, expected, checks)
        return row

    def declined_redeem(self, redeem, inquiry):
        available = next(
            (r.balance for r in (redeem, inquiry) if r is not None and r.balance is not None),
            None,
        )
        if self.declined_amount is not None:
            amount = wire.parse_amount(str(self.declined_amount))
        elif available is not None:
            amount = available + Decimal("1.00")
        else:
            self.skip("Declined Redeem", "declined 51", "no available balance is known")
            return None
        expected = "declined 51 (insufficient funds), nothing applied, available balance reported"
        if available is not None:
            expected = f"declined 51 (insufficient funds), available balance {available:.2f}"
        row = self.call(
            "Declined Redeem",
            expected,
            lambda: services.redeem(
                card_number=self.card,
                amount=f"{amount:.2f}",
                pin=self.pin,
                reference="certification-declined",
                **self.common(),
            ),
        )
        if row is None:
            return None
        checks = [
            row.state == State.DECLINED,
            row.response_code == evidence.INSUFFICIENT_FUNDS,
            not row.amount_applied,
            row.balance is not None,
        ]
        if available is not None:
            checks.append(row.balance == available)
        self.expect("Declined Redeem", row, expected, checks)
        return row

    def void(self, scenario: str, original, amount: Decimal):
        expected = f"approved 00, {amount:.2f} reversed, original voided"
        if original is None or original.state != State.APPROVED:
            self.skip(scenario, expected, "the transaction to void was not approved")
            return None
        row = self.call(
            scenario,
            expected,
            lambda: services.void(
                original=original,
                source=Source.CERTIFICATION,
                reason=f"certification: {scenario.lower()}",
                budget_seconds=self.budget,
            ),
        )
        if row is None:
            return None
        original.refresh_from_db()
        self.expect(
            scenario,
            row,
            expected,
            [
                row.state == State.APPROVED,
                row.response_code == wire.APPROVED,
                row.amount_applied == amount,
                original.state == State.VOIDED,
            ],
            actual=f"{describe(row)}; original {original.get_state_display().lower()}",
        )
        return row

    def replay(self, load):
        """Send the load's exact bytes again under its request id: eCard must answer from its
        idempotency store (`X-Idempotent-Replay: true`) with the original body, processing
        nothing a second time."""
        scenario = "Replayed request (idempotency)"
        expected = "HTTP 200, X-Idempotent-Replay: true, the original response body"
        if load is None or load.state not in (State.APPROVED, State.VOIDED):
            self.skip(scenario, expected, "the load to replay was not approved")
            return
        first = load.exchanges.filter(response_status=200).order_by("id").first()
        # The bytes were wiped once the outcome was known; rebuild them and prove they are the
        # same bytes by their SHA-256, kept on the row.
        prepared = wire.build_request(
            load.kind,
            request_id=load.request_id,
            card_number=crypto.decrypt_text(load.card_ciphertext),
            currency=load.currency,
            amount=load.amount,
            store_id=load.store_id,
            terminal_id=load.terminal_id,
        )
        if prepared.body_sha256 != load.request_sha256 or first is None:
            self.expect(scenario, load, expected, [False], actual="the original bytes differ")
            return
        latest = load.exchanges.order_by("-id").values_list("id", flat=True).first()
        try:
            get_client().send(
                prepared,
                budget_seconds=self.budget,
                on_exchange=lambda exchange: services.record_exchange(load.pk, exchange),
            )
        except EcardError as exc:
            self.expect(scenario, load, expected, [False], actual=f"failed: {exc.message}")
            return
        replayed = load.exchanges.filter(id__gt=latest).order_by("-id").first()
        if replayed is None:
            self.expect(scenario, load, expected, [False], actual="no exchange was recorded")
            return
        same_body = replayed.response_body == first.response_body
        actual = (
            f"HTTP {replayed.response_status}, X-Idempotent-Replay: "
            f"{str(replayed.idempotent_replay).lower()}, "
            f"{'the same' if same_body else 'a different'} body"
        )
        self.expect(
            scenario,
            load,
            expected,
            [replayed.response_status == 200, replayed.idempotent_replay, same_body],
            actual=actual,
        )


class Command(BaseCommand):
    help = (
        "Run eCard's certification scenarios against the configured eCard (a sandbox) and write "
        "the evidence pack (CSV, JSON, HTML)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--card", help="test card number (eCard sandbox test card)")
        parser.add_argument("--pin", help="the test card's PIN")
        parser.add_argument("--wrong-pin", help="a wrong PIN to try (default: derived)")
        parser.add_argument(
            "--void-card", help="a second test card for Load + Void Load (default: --card)"
        )
        parser.add_argument("--load-amount", default="10.00")
        parser.add_argument("--redeem-amount", default="5.00")
        parser.add_argument(
            "--declined-amount", help="amount of the Declined Redeem (default: balance + 1.00)"
        )
        parser.add_argument(
            "--initial-balance",
            default="100.00",
            help="balance the test cards are created with (local sandbox set-up only)",
        )
        parser.add_argument("--store-id", default="")
        parser.add_argument("--terminal-id", default="")
        parser.add_argument(
            "--setup-sandbox-cards",
            action="store_true",
            default=None,
            help="create the test cards on the local sandbox first "
            "(default: when ECARD_SANDBOX_CONTROL_KEY is set)",
        )
        parser.add_argument(
            "--no-setup-sandbox-cards", dest="setup_sandbox_cards", action="store_false"
        )
        parser.add_argument(
            "--full-card-numbers",
            action="store_true",
            default=None,
            help="show card numbers in full in the evidence: sandbox test cards only "
            "(default: in full on the local sandbox, masked elsewhere)",
        )
        parser.add_argument("--masked-card-numbers", dest="full_card_numbers", action="store_false")
        parser.add_argument(
            "--budget",
            type=float,
            default=None,
            help="seconds each call may take, retries included (default: the staff budget)",
        )
        parser.add_argument("--out", help="directory for the evidence (default: var/evidence/…)")

    def handle(self, *args, **options):
        if evidence.is_production():
            raise CommandError(
                "ECARD_BASE_URL points at eCard's production host: certification runs against "
                "a sandbox only"
            )
        local = evidence.is_local_sandbox()
        setup = options["setup_sandbox_cards"]
        if setup is None:
            setup = bool(settings.ECARD_SANDBOX_CONTROL_KEY)
        full = options["full_card_numbers"]
        if full is None:
            full = local
        options = self._cards(options, setup)
        options["budget"] = options["budget"] or settings.ECARD_STAFF_BUDGET_SECONDS
        try:
            options["initial_balance"] = (
                wire.parse_amount(str(options["initial_balance"])) if setup else None
            )
        except EcardError as exc:
            raise CommandError(f"--initial-balance: {exc.message}") from exc
        if setup:
            self._setup_cards(options)

        run = Certification(options)
        self.stdout.write(f"eCard certification against {settings.ECARD_BASE_URL}")
        run.run()

        pack = evidence.build_evidence(
            run.rows, full_card_numbers=full, expectations=run.expectations
        )
        for failed in run.unattached:
            pack.scenarios.append(
                {**asdict(failed), "transaction_request_id": "", "transaction_type": ""}
            )
        out = Path(options["out"] or self._default_out())
        evidence.write_pack(pack, out)
        self._summary(pack, out)
        failures = [s for s in pack.scenarios if not s["passed"]]
        missing = [t for t in evidence.REQUIRED_TYPES if t not in pack.types]
        if failures or missing:
            problems = []
            if failures:
                problems.append(f"{len(failures)} of {len(pack.scenarios)} scenarios failed")
            if missing:
                problems.append(f"missing types: {', '.join(missing)}")
            raise CommandError(f"certification run failed ({'; '.join(problems)}); see {out}")

    def _cards(self, options: dict, setup: bool) -> dict:
        options = dict(options)
        card = options["card"] or getattr(settings, "ECARD_CERTIFICATION_CARD", "")
        pin = options["pin"] or getattr(settings, "ECARD_CERTIFICATION_PIN", "")
        void_card = options["void_card"] or getattr(settings, "ECARD_CERTIFICATION_VOID_CARD", "")
        if setup:
            card, pin = card or LOCAL_CARD, pin or LOCAL_PIN
            void_card = void_card or None
        if not card or not pin:
            raise CommandError(
                "give the test card with --card and --pin (eCard's sandbox test card). Against "
                "the local sandbox it makes its own: with `make run` up and DEBUG=1 it finds the "
                "sandbox's control key in var/sandbox/control-key (or set "
                "ECARD_SANDBOX_CONTROL_KEY)"
            )
        try:
            options["card"] = wire.parse_card_number(card)
            options["pin"] = wire.parse_pin(pin)
            options["void_card"] = wire.parse_card_number(void_card) if void_card else None
            if options["wrong_pin"]:
                options["wrong_pin"] = wire.parse_pin(options["wrong_pin"])
            for name in ("store_id", "terminal_id"):
                wire.parse_store_or_terminal_id(options[name] or "", field=name)
            for name in ("load_amount", "redeem_amount"):
                wire.parse_amount(str(options[name]))
            if options["declined_amount"] is not None:
                options["declined_amount"] = wire.parse_amount(str(options["declined_amount"]))
        except EcardError as exc:
            raise CommandError(f"{exc.field}: {exc.message}") from exc
        return options

    def _setup_cards(self, options: dict) -> None:
        from ecard_sandbox.control import SandboxControl, SandboxControlError

        if not settings.ECARD_SANDBOX_CONTROL_KEY:
            raise CommandError("ECARD_SANDBOX_CONTROL_KEY is not set: no local sandbox to set up")
        if not settings.ECARD_CA_BUNDLE:
            raise CommandError("ECARD_CA_BUNDLE is not set: the local sandbox cannot be trusted")
        root = settings.ECARD_BASE_URL.split("/api/")[0]
        control = SandboxControl(root, settings.ECARD_SANDBOX_CONTROL_KEY, settings.ECARD_CA_BUNDLE)
        cards = {options["card"], options["void_card"] or options["card"]}
        try:
            for card in sorted(cards):
                control.create_card(card, options["initial_balance"], pin=options["pin"])
        except (requests.RequestException, SandboxControlError) as exc:
            raise CommandError(f"the local sandbox at {root} could not be set up: {exc}") from exc
        finally:
            control.close()
        self.stdout.write(
            f"Sandbox test cards created: {len(cards)}, balance {options['initial_balance']:.2f}"
        )

    @staticmethod
    def _default_out() -> Path:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        return Path(settings.VAR_DIR) / "evidence" / stamp

    def _summary(self, pack, out: Path) -> None:
        rows = [("Scenario", "Type", "Request id", "Result", "Actual")]
        for scenario in pack.scenarios:
            rows.append(
                (
                    scenario["scenario"],
                    scenario["transaction_type"],
                    scenario["transaction_request_id"],
                    "PASS" if scenario["passed"] else "FAIL",
                    scenario["actual"],
                )
            )
        widths = [max(len(str(row[i])) for row in rows) for i in range(4)]
        for row in rows:
            cells = [str(cell).ljust(width) for cell, width in zip(row[:4], widths, strict=True)]
            self.stdout.write("  ".join([*cells, str(row[4])]))
        present = ", ".join(t for t in evidence.REQUIRED_TYPES if t in pack.types)
        self.stdout.write(f"Required types present: {present or 'none'}")
        self.stdout.write(f"Evidence written to {out}")
