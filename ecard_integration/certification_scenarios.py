"""The certification scenarios, one method each, and the checks that judge their transactions.

`Certification(plan).run()` sends them in order against the configured eCard through the public
services (source `certification`) and keeps, for the evidence pack, every row and what each
scenario expected of it. The run around it (options, local cards, evidence) is `certification`.
"""

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from ecard_integration import crypto, ledger, services, wire
from ecard_integration.client import get_client
from ecard_integration.errors import EcardError
from ecard_integration.evidence import Expectation
from ecard_integration.models import EcardTransaction, Source, State


@dataclass(frozen=True)
class Plan:
    """The checked inputs of one run."""

    card: str
    pin: str
    wrong_pin: str
    void_card: str  # the card of Load + Void Load: `card` unless a second one is given
    load_amount: Decimal
    redeem_amount: Decimal
    declined_amount: Decimal | None  # None: the known balance + 1.00
    initial_balance: Decimal | None  # known only when the run created the cards
    budget: float
    store_id: str = ""
    terminal_id: str = ""


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


def approved(row: EcardTransaction, applied: Decimal | None = None) -> list[bool]:
    """Checks of an approval; with `applied`, of an approval that moved that amount."""
    checks = [row.state == State.APPROVED, wire.is_approved(row.response_code)]
    if applied is not None:
        checks.append(row.amount_applied == applied)
    return checks


def declined(row: EcardTransaction, reason: wire.DeclineReason) -> list[bool]:
    """Checks of a decline for this reason that applied nothing."""
    return [
        row.state == State.DECLINED,
        wire.decline_reason(row.response_code) is reason,
        not row.amount_applied,
    ]


class Certification:
    """One run of the scenarios; collects the rows and the expectations for the evidence."""

    def __init__(self, plan: Plan):
        self.plan = plan
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

    def attempt(self, scenario: str, expected: str, service, checks: Callable[..., list[bool]]):
        """Run one service call and judge the row it returns with `checks(row)`."""
        row = self.call(scenario, expected, service)
        if row is not None:
            self.expect(scenario, row, expected, checks(row))
        return row

    def skip(self, scenario: str, expected: str, why: str) -> None:
        self.unattached.append(Expectation(scenario, expected, f"not run: {why}", passed=False))

    def common(self) -> dict:
        return {
            "source": Source.CERTIFICATION,
            "store_id": self.plan.store_id,
            "terminal_id": self.plan.terminal_id,
            "budget_seconds": self.plan.budget,
        }

    def redeeming(self, amount, pin: str, reference: str):
        """The service call of a Redeem on the test card."""
        return lambda: services.redeem(
            card_number=self.plan.card, amount=amount, pin=pin, reference=reference, **self.common()
        )

    # --- Scenarios ----------------------------------------------------------------------------

    def run(self) -> None:
        plan = self.plan
        load = self.load(plan.card, "Load")
        self.wrong_pin_redeem()
        inquiry = self.balance_inquiry(load)
        redeem = self.redeem(inquiry)
        self.declined_redeem(redeem, inquiry)
        self.void("Void Redeem", redeem, plan.redeem_amount)
        if plan.void_card != plan.card:
            load_to_void = self.load(plan.void_card, "Load (to be voided)")
        else:
            load_to_void = load
        self.void("Void Load", load_to_void, plan.load_amount)
        self.replay(load)

    def load(self, card: str, scenario: str):
        amount, initial = self.plan.load_amount, self.plan.initial_balance
        expected = f"approved 00, {amount:.2f} applied, new balance reported"
        known = initial is not None and card == self.plan.card
        if known:
            expected = f"approved 00, balance {initial + amount:.2f}"
        return self.attempt(
            scenario,
            expected,
            lambda: services.load(
                card_number=card,
                amount=amount,
                reference="certification-load",
                reason="certification run",
                **self.common(),
            ),
            lambda row: [
                *approved(row, applied=amount),
                bool(row.approval_code),
                row.balance is not None,
                *([row.balance == initial + amount] if known else []),
            ],
        )

    def wrong_pin_redeem(self):
        plan = self.plan
        return self.attempt(
            "Redeem with a wrong PIN",
            "declined 55 (incorrect PIN), nothing applied",
            self.redeeming(plan.redeem_amount, plan.wrong_pin, "certification-wrong-pin"),
            lambda row: declined(row, wire.DeclineReason.INCORRECT_PIN),
        )

    def balance_inquiry(self, load):
        expected, before = "approved 00, balance reported", None
        if load is not None and load.balance is not None:
            before = load.balance
            expected = f"approved 00, balance {before:.2f} (unchanged since the load)"
        return self.attempt(
            "Balance Inquiry with PIN",
            expected,
            lambda: services.balance_inquiry(
                card_number=self.plan.card,
                pin=self.plan.pin,
                reference="certification-balance",
                **self.common(),
            ),
            lambda row: [
                *approved(row),
                row.balance is not None,
                *([row.balance == before] if before is not None else []),
            ],
        )

    def redeem(self, inquiry):
        amount = self.plan.redeem_amount
        expected, after = f"approved 00, {amount:.2f} applied", None
        if inquiry is not None and inquiry.balance is not None:
            after = inquiry.balance - amount
            expected = f"approved 00, {amount:.2f} applied, balance {after:.2f}"
        return self.attempt(
            "Redeem with PIN",
            expected,
            self.redeeming(amount, self.plan.pin, "certification-redeem"),
            lambda row: [
                *approved(row, applied=amount),
                bool(row.approval_code),
                *([row.balance == after] if after is not None else []),
            ],
        )

    def declined_redeem(self, redeem, inquiry):
        available = next(
            (r.balance for r in (redeem, inquiry) if r is not None and r.balance is not None),
            None,
        )
        if self.plan.declined_amount is not None:
            amount = self.plan.declined_amount
        elif available is not None:
            amount = available + Decimal("1.00")
        else:
            self.skip("Declined Redeem", "declined 51", "no available balance is known")
            return None
        expected = "declined 51 (insufficient funds), nothing applied, available balance reported"
        if available is not None:
            expected = f"declined 51 (insufficient funds), available balance {available:.2f}"
        return self.attempt(
            "Declined Redeem",
            expected,
            self.redeeming(f"{amount:.2f}", self.plan.pin, "certification-declined"),
            lambda row: [
                *declined(row, wire.DeclineReason.INSUFFICIENT_FUNDS),
                row.balance is not None,
                *([row.balance == available] if available is not None else []),
            ],
        )

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
                budget_seconds=self.plan.budget,
            ),
        )
        if row is None:
            return None
        original.refresh_from_db()
        self.expect(
            scenario,
            row,
            expected,
            [*approved(row, applied=amount), original.state == State.VOIDED],
            actual=f"{describe(row)}; original {original.get_state_display().lower()}",
        )
        return row

    def replay(self, load) -> None:
        """Send the load's exact bytes again under its request id: eCard must answer from its
        idempotency store (`X-Idempotent-Replay: true`) with the original body, processing
        nothing a second time."""
        scenario = "Replayed request (idempotency)"
        expected = "HTTP 200, X-Idempotent-Replay: true, the original response body"
        if load is None or load.state not in (State.APPROVED, State.VOIDED):
            self.skip(scenario, expected, "the load to replay was not approved")
            return
        actual, checks = self.replayed(load)
        self.expect(scenario, load, expected, checks, actual=actual)

    def replayed(self, load) -> tuple[str, list[bool]]:
        """What eCard answered to the load's bytes sent again, and the checks of that answer."""
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
            return "the original bytes differ", [False]
        latest = load.exchanges.order_by("-id").values_list("id", flat=True).first()
        try:
            get_client().send(
                prepared,
                budget_seconds=self.plan.budget,
                on_exchange=lambda exchange: ledger.record_exchange(load.pk, exchange),
            )
        except EcardError as exc:
            return f"failed: {exc.message}", [False]
        replayed = load.exchanges.filter(id__gt=latest).order_by("-id").first()
        if replayed is None:
            return "no exchange was recorded", [False]
        same_body = replayed.response_body == first.response_body
        actual = (
            f"HTTP {replayed.response_status}, X-Idempotent-Replay: "
            f"{str(replayed.idempotent_replay).lower()}, "
            f"{'the same' if same_body else 'a different'} body"
        )
        return actual, [replayed.response_status == 200, replayed.idempotent_replay, same_body]
