"""The certification cases beyond eCard's required types: an unknown card on balance, redeem and
load; an inactive card; a locked card; voids of voided transactions; an outcome learnt by
reconciliation after a lost answer. Mixed into `certification_scenarios.Certification`.
"""

from contextlib import AbstractContextManager
from decimal import Decimal

from django.db.models.functions import Now
from django.test.utils import override_settings

from ecard_integration import reconciliation, wire
from ecard_integration.certification_record import Recorder, declined, describe, shown_for
from ecard_integration.client import get_client
from ecard_integration.errors import EcardError, NotVoidableError
from ecard_integration.evidence import Expectation
from ecard_integration.models import EcardTransaction, State

SMALL_AMOUNT = Decimal("1.00")
LOST_ANSWER_AMOUNT = Decimal("2.00")
# Against eCard (no fault injection) an answer is lost by not waiting for it: no processor answers
# within 5 ms, while the request itself has long been written.
LOST_ANSWER_READ_TIMEOUT = 0.005
LOCK_TRIES = 3  # eCard locks a card at the third wrong PIN in a row


def wrong_pin_for(pin: str) -> str:
    """A PIN of the same length that is surely not this one."""
    return "".join(str((int(digit) + 1) % 10) for digit in pin)


class PlanCases(Recorder):
    """The test plan's cases that are not eCard's six required types."""

    def unknown_card(self) -> None:
        """A card number eCard does not know, on balance, redeem and load: declined 14."""
        card, pin = self.plan.unknown_card, self.plan.pin
        expected = "declined 14 (card not found), nothing applied"
        calls = (
            ("Unknown card: balance inquiry", self.inquiring(card, pin, "certification-unknown")),
            (
                "Unknown card: redeem",
                self.redeeming(SMALL_AMOUNT, pin, "certification-unknown", card),
            ),
            ("Unknown card: load", self.loading(card, SMALL_AMOUNT, "certification-unknown")),
        )
        for scenario, service in calls:
            self.attempt(
                scenario,
                expected,
                service,
                lambda row: [
                    *declined(row, wire.DeclineReason.CARD_NOT_FOUND),
                    row.balance is None,
                ],
            )

    def inactive_card(self) -> None:
        scenario = "Inactive card: redeem"
        expected = "declined 62 (card inactive), nothing applied"
        card = self.plan.inactive_card
        if not card:
            self.skip(scenario, expected, "give eCard's inactive test card with --inactive-card")
            return
        self.attempt(
            scenario,
            expected,
            self.redeeming(SMALL_AMOUNT, self.plan.pin, "certification-inactive", card),
            lambda row: declined(row, wire.DeclineReason.CARD_INACTIVE),
        )

    def locked_card(self) -> None:
        """Three wrong PINs in a row lock the card at eCard; then even the right PIN gets 75."""
        scenario = "Locked card: redeem with the right PIN refused"
        expected = "declined 75 (PIN tries exceeded), nothing applied"
        card = self.plan.lock_card
        if not card:
            self.skip(scenario, expected, "give a card the run may lock with --lock-card")
            return
        pin = self.plan.lock_card_pin or self.plan.pin
        for number in range(1, LOCK_TRIES + 1):
            last = number == LOCK_TRIES
            reason = (
                wire.DeclineReason.PIN_TRIES_EXCEEDED if last else wire.DeclineReason.INCORRECT_PIN
            )
            self.attempt(
                f"Locked card: wrong PIN {number} of {LOCK_TRIES}",
                "declined 75 (PIN tries exceeded): the card is now locked"
                if last
                else "declined 55 (incorrect PIN)",
                self.inquiring(card, wrong_pin_for(pin), "certification-lock"),
                lambda row, reason=reason: declined(row, reason),
            )
        self.attempt(
            scenario,
            expected,
            self.redeeming(SMALL_AMOUNT, pin, "certification-locked", card),
            lambda row: declined(row, wire.DeclineReason.PIN_TRIES_EXCEEDED),
        )

    def void_voided(self, voided) -> None:
        """A void of an already-voided transaction: refused by us before anything is sent; and,
        for one voided outside this app (eCard's portal, another system), eCard's 79 recorded
        as what it is: the original is voided."""
        scenario = "Void of an already-voided transaction: refused before sending"
        expected = "nothing sent: the original is already voided"
        if voided is None or voided.state != State.VOIDED:
            self.skip(scenario, expected, "no voided transaction to void again")
        else:
            try:
                self.voiding(voided, scenario)()
            except NotVoidableError as exc:
                shown = f"Staff (admin): {exc.message}"
                verdict = Expectation(scenario, expected, f"refused: {exc.message}", True, shown)
            else:
                verdict = Expectation(scenario, expected, "a void was sent", False)
            self.unattached.append(verdict)
        self.voided_elsewhere()

    def voided_elsewhere(self) -> None:
        scenario = "Void of a transaction voided outside this app"
        expected = "declined 79 (already voided), nothing reversed; the original marked voided"
        redeem = self.attempt(
            "Redeem (to be voided outside this app)",
            f"approved 00, {SMALL_AMOUNT:.2f} applied",
            self.redeeming(SMALL_AMOUNT, self.plan.pin, "certification-voided-elsewhere"),
            lambda row: [row.state == State.APPROVED],
        )
        if redeem is None or redeem.state != State.APPROVED:
            self.skip(scenario, expected, "the redeem to void was not approved")
            return
        # Voided at eCard by "another system": sent by the client with no row of ours.
        elsewhere = wire.build_request(
            wire.Endpoint.VOID_REDEEM,
            request_id=wire.new_request_id(),
            card_number=self.plan.card,
            currency=redeem.currency,
            original_transaction_id=redeem.processor_transaction_id,
        )
        try:
            first = get_client().send(elsewhere, budget_seconds=self.plan.budget)
        except EcardError as exc:
            self.skip(scenario, expected, f"the void outside this app failed: {exc.message}")
            return
        row = self.call(scenario, expected, self.voiding(redeem, scenario))
        if row is None:
            return
        redeem.refresh_from_db()
        self.expect(
            scenario,
            row,
            expected,
            [*declined(row, wire.DeclineReason.ALREADY_VOIDED), redeem.state == State.VOIDED],
            actual=(
                f"{describe(row)}; original {redeem.get_state_display().lower()} (voided "
                f"beforehand under request id {elsewhere.request_id}: {first.response_code})"
            ),
        )

    def losing_answers(self, card: str) -> AbstractContextManager:
        if self.plan.lose_answer is not None:
            return self.plan.lose_answer(card)
        # One call of this single-threaded run, never a server process: see LOST_ANSWER_*.
        return override_settings(ECARD_READ_TIMEOUT=LOST_ANSWER_READ_TIMEOUT)

    def lost_answer(self):
        """A redeem whose answer never reaches us: outcome unknown, then reconciliation replays
        the same bytes under the same X-Request-Id and eCard answers from its idempotency
        store. Returns the redeem (to be given back)."""
        scenario = "Outcome learnt by reconciliation after a lost answer"
        expected = (
            "no answer (outcome unknown, the guest told it is being confirmed); reconciliation "
            "replays the same bytes under the same X-Request-Id: HTTP 200, X-Idempotent-Replay: "
            "true, approved 00"
        )
        card = self.plan.void_card
        service = self.redeeming(
            LOST_ANSWER_AMOUNT, self.plan.second_pin, "certification-lost-answer", card
        )
        with self.losing_answers(card):
            row = self.call(scenario, expected, service)
        if row is None:
            return None
        lost = row.state == State.UNKNOWN
        first_shown = shown_for(row)
        if lost:
            # The run does not wait for the sweep (every 15 s): reconciliation looks now.
            EcardTransaction.objects.filter(pk=row.pk).update(next_attempt_at=Now())
            reconciliation.reconcile(row.pk)
            row.refresh_from_db()
        exchanges = list(row.exchanges.order_by("id"))
        replay = next((x for x in reversed(exchanges) if x.is_reconciliation), None)
        replayed = replay is not None and replay.response_status == 200 and replay.idempotent_replay
        same = all(
            x.request_id == row.request_id and x.request_sha256 == row.request_sha256
            for x in exchanges
        )
        first_error = exchanges[0].error if exchanges else ""
        actual = (
            f"first answer {'lost (' + first_error + ')' if lost else 'received'}; "
            f"{len(exchanges)} exchanges under one request id and one body hash: {same}; "
            f"reconciliation replay: "
            + (
                f"HTTP {replay.response_status}, X-Idempotent-Replay: {replay.idempotent_replay}"
                if replay
                else "none"
            )
            + f"; now {describe(row)}"
        )
        checks = [lost, replayed, same, row.state == State.APPROVED]
        shown = f"{first_shown}, then {shown_for(row).split(': ', 1)[-1]}"
        self.expect(scenario, row, expected, checks, actual=actual, shown=shown)
        return row
