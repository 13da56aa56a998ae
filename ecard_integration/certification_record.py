"""The bookkeeping of a certification run: its checked inputs (`Plan`), the checks that judge a
transaction, and `Recorder`, which runs each service call and keeps, for the evidence pack, every
row, what each case expected of it, what happened and what the guest or staff member was shown.
The cases themselves are in `certification_scenarios` and `certification_cases`.
"""

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from decimal import Decimal

from ecard_integration import callers, services, wire
from ecard_integration.admin.display import outcome
from ecard_integration.errors import EcardError
from ecard_integration.evidence import Expectation
from ecard_integration.models import EcardTransaction, Kind, Source, State

# How the run loses the answer to one redeem on purpose (the reconciliation case): given the
# card number, a context in which eCard processes that card's redeems but we get no answer.
AnswerLoser = Callable[[str], AbstractContextManager]


@dataclass(frozen=True)
class Plan:
    """The checked inputs of one run."""

    card: str
    pin: str
    wrong_pin: str
    void_card: str  # the second card: Load + Void Load, the rest of a split payment
    load_amount: Decimal
    redeem_amount: Decimal
    declined_amount: Decimal | None  # None: the known balance + 1.00
    initial_balance: Decimal | None  # known only when the run created the cards
    budget: float
    store_id: str = ""
    terminal_id: str = ""
    void_card_pin: str = ""  # the second card's PIN ("": the first card's)
    unknown_card: str = "6006499999999999"  # well-formed, never issued
    inactive_card: str = ""  # "": the inactive-card case is not run
    lock_card: str = ""  # a card the run may lock ("": the locked-card case is not run)
    lock_card_pin: str = ""
    lose_answer: AnswerLoser | None = None  # None: by a read timeout too short for any answer

    @property
    def second_pin(self) -> str:
        return self.void_card_pin or self.pin


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


def shown_for(row: EcardTransaction, due: Decimal | None = None) -> str:
    """What a person reads of this outcome: the guest's page for redeems and balance inquiries
    (ordering's sentence, through `callers`), the staff admin's result page for loads and voids."""
    if row.kind in (Kind.REDEEM, Kind.BALANCE_INQUIRY):
        sentence = callers.told_to_guest(row, due)
        if sentence:
            return f"Guest (kiosk and online): {sentence}"
    text = outcome(row)["text"]
    if row.balance is not None:
        text += f"; balance {row.balance:.2f}"
    return f"Staff (admin): {text}"


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


class Recorder:
    """Runs service calls for a plan and keeps the rows and the verdicts for the evidence."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.rows: list[EcardTransaction] = []
        self.expectations: dict[int, list[Expectation]] = {}
        self.unattached: list[Expectation] = []

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

    def expect(
        self,
        scenario: str,
        row,
        expected: str,
        checks: list[bool],
        actual: str = "",
        due: Decimal | None = None,
        shown: str = "",
    ):
        shown = shown or (shown_for(row, due) if row is not None else "")
        verdict = Expectation(scenario, expected, actual or describe(row), all(checks), shown)
        if row is None:
            self.unattached.append(verdict)
        else:
            self.expectations.setdefault(row.pk, []).append(verdict)
        return verdict.passed

    def attempt(
        self,
        scenario: str,
        expected: str,
        service,
        checks: Callable[..., list[bool]],
        due: Decimal | None = None,
    ):
        """Run one service call and judge the row it returns with `checks(row)`."""
        row = self.call(scenario, expected, service)
        if row is not None:
            self.expect(scenario, row, expected, checks(row), due=due)
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

    def redeeming(self, amount, pin: str, reference: str, card: str = ""):
        """The service call of a Redeem (on the test card unless `card` says otherwise)."""
        return lambda: services.redeem(
            card_number=card or self.plan.card,
            amount=amount,
            pin=pin,
            reference=reference,
            **self.common(),
        )

    def inquiring(self, card: str, pin: str, reference: str):
        """The service call of a Balance Inquiry with a PIN."""
        return lambda: services.balance_inquiry(
            card_number=card, pin=pin, reference=reference, **self.common()
        )

    def loading(self, card: str, amount, reference: str):
        return lambda: services.load(
            card_number=card,
            amount=amount,
            reference=reference,
            reason="certification run",
            **self.common(),
        )

    def voiding(self, original, scenario: str, *, blind: bool = False):
        return lambda: services.void(
            original=original,
            source=Source.CERTIFICATION,
            reason=f"certification: {scenario.lower()}",
            blind=blind,
            budget_seconds=self.plan.budget,
        )
