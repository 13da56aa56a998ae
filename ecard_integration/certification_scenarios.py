"""The certification scenarios: eCard's required types and a processor's full test plan.

`Certification(plan).run()` sends them in order against the configured eCard through the public
services (source `certification`) and keeps, for the evidence pack, every row, what each case
expected of it, what happened and what the guest or staff member was shown (`Recorder`). The
cases follow Toast's published gift-card test plan (unknown card on balance, redeem and load; an
inactive card; a balance check; a redeem of the whole balance; an order above the balance paid
with a second card; voids restoring the balance; a load and its void) plus ours (wrong PIN, a
locked card, an exact-bytes replay, a void of a voided transaction, an outcome learnt by
reconciliation after a lost answer); the latter are in `certification_cases`. The money the run
takes from the test cards is given back by voids at the end. The run around it (options, local
cards, evidence) is `certification`.
"""

from decimal import Decimal

from ecard_integration import crypto, ledger, wire
from ecard_integration.certification_cases import PlanCases
from ecard_integration.certification_record import Plan, Recorder, approved, declined, describe
from ecard_integration.client import get_client
from ecard_integration.errors import EcardError
from ecard_integration.models import State

__all__ = ["Certification", "Plan"]


class Certification(PlanCases, Recorder):
    """One run of the scenarios; collects the rows and the expectations for the evidence."""

    def run(self) -> None:
        plan = self.plan
        load = self.load(plan.card, "Load")
        inquiry = self.balance_inquiry(load)
        redeem = self.redeem(inquiry)
        self.void("Void Redeem", redeem, plan.redeem_amount)
        restored = self.balance_restored(inquiry)
        self.void_voided(redeem)
        self.wrong_pin_redeem()
        available = restored.balance if restored is not None else None
        split = self.order_above_the_balance(available)
        load_to_void = self.load(plan.void_card, "Load (to be voided)")
        self.void("Void Load", load_to_void, plan.load_amount)
        self.unknown_card()
        self.inactive_card()
        self.locked_card()
        self.replay(load)
        self.give_back(split)
        self.give_back([self.lost_answer()])

    def load(self, card: str, scenario: str):
        amount, initial = self.plan.load_amount, self.plan.initial_balance
        expected = f"approved 00, {amount:.2f} applied, new balance reported"
        known = initial is not None and card == self.plan.card
        if known:
            expected = f"approved 00, balance {initial + amount:.2f}"
        return self.attempt(
            scenario,
            expected,
            self.loading(card, amount, "certification-load"),
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

    def balance_inquiry(self, load, scenario: str = "Balance Inquiry with PIN"):
        expected, before = "approved 00, balance reported", None
        if load is not None and load.balance is not None:
            before = load.balance
            expected = f"approved 00, balance {before:.2f} (unchanged since the load)"
        return self.attempt(
            scenario,
            expected,
            self.inquiring(self.plan.card, self.plan.pin, "certification-balance"),
            lambda row: [
                *approved(row),
                row.balance is not None,
                *([row.balance == before] if before is not None else []),
            ],
        )

    def balance_restored(self, inquiry):
        """After the Void Redeem, the card holds what it held before the redeem."""
        return self.balance_inquiry(inquiry, "Void Redeem restores the balance")

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

    def order_above_the_balance(self, available: Decimal | None) -> list:
        """An order above the first card's balance: declined with the balance available (eCard's
        Declined Redeem), then that balance applied (the whole balance, the card at 0.00) and a
        second card paying the rest. Returns the approved redeems, to be given back."""
        scenario = "Order above the balance: declined with the balance available"
        if self.plan.declined_amount is not None:
            total = self.plan.declined_amount
        elif available is not None:
            total = available + Decimal("1.00")
        else:
            self.skip(scenario, "declined 51", "no available balance is known")
            return []
        expected = "declined 51 (insufficient funds), nothing applied, available balance reported"
        if available is not None:
            expected = f"declined 51 (insufficient funds), available balance {available:.2f}"
        declined_row = self.attempt(
            scenario,
            expected,
            self.redeeming(f"{total:.2f}", self.plan.pin, "certification-declined"),
            lambda row: [
                *declined(row, wire.DeclineReason.INSUFFICIENT_FUNDS),
                row.balance is not None,
                *([row.balance == available] if available is not None else []),
            ],
        )
        if declined_row is None or not declined_row.balance:
            return []
        balance = declined_row.balance
        rest = total - balance
        if self.plan.void_card == self.plan.card:
            self.skip(
                "Order above the balance: a second card pays the rest",
                "approved 00",
                "give a second test card with --void-card",
            )
            return []
        whole = self.attempt(
            "Redeem of the whole balance (card at 0.00)",
            f"approved 00, {balance:.2f} applied, balance 0.00",
            self.redeeming(f"{balance:.2f}", self.plan.pin, "certification-split-1"),
            lambda row: [*approved(row, applied=balance), row.balance == 0],
            due=rest,
        )
        if whole is not None:
            self.expect(
                "Order above the balance: the available balance applied",
                whole,
                f"approved 00, {balance:.2f} applied, {rest:.2f} still due",
                [*approved(whole, applied=balance)],
                due=rest,
            )
        second = self.attempt(
            "Order above the balance: a second card pays the rest",
            f"approved 00 on the second card, {rest:.2f} applied",
            self.redeeming(
                f"{rest:.2f}", self.plan.second_pin, "certification-split-2", self.plan.void_card
            ),
            lambda row: approved(row, applied=rest),
        )
        self.attempt(
            "Order above the balance: first card at 0.00",
            "approved 00, balance 0.00",
            self.inquiring(self.plan.card, self.plan.pin, "certification-balance"),
            lambda row: [*approved(row), row.balance == 0],
        )
        return [whole, second]

    def void(self, scenario: str, original, amount: Decimal | None):
        expected = "approved 00, the original's amount reversed, original voided"
        if amount is not None:
            expected = f"approved 00, {amount:.2f} reversed, original voided"
        if original is None or original.state != State.APPROVED:
            self.skip(scenario, expected, "the transaction to void was not approved")
            return None
        row = self.call(scenario, expected, self.voiding(original, scenario))
        if row is None:
            return None
        original.refresh_from_db()
        applied = amount if amount is not None else original.amount
        self.expect(
            scenario,
            row,
            expected,
            [*approved(row, applied=applied), original.state == State.VOIDED],
            actual=f"{describe(row)}; original {original.get_state_display().lower()}",
        )
        return row

    def give_back(self, redeems: list) -> None:
        """Void what the run took from the test cards, so that the next run finds them as full."""
        for redeem in redeems:
            if redeem is not None and redeem.state == State.APPROVED:
                self.void("Clean-up: Void Redeem giving the test money back", redeem, None)

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
