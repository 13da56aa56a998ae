"""The chaos run: many logical transactions under injected faults, then ten invariants checked.

N transactions of every type run on 8 threads against the sandbox while about 15 % of eCard calls
misbehave (answers dropped before or after commit, 5xx after commit, answers later than the read
timeout, rate limits, expired tokens) and some callers give up. A real Celery worker and beat
reconcile meanwhile. Then faults go off, the sandbox clock moves past the token lifetime, the queue
drains, and every invariant is counted; a failing run replays from its seed.
"""

import random
import statistics
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection

from ecard_integration import services
from ecard_integration.errors import EcardError, InvalidInput
from ecard_integration.models import (
    VOID_KIND_FOR,
    CallerIntent,
    EcardExchange,
    EcardTransaction,
    Kind,
    Source,
    State,
)
from tests.chaos.culprits import CulpritReport, group_by_request

START_BALANCE = Decimal("500.00")
CARDS_PER_THREAD = 4
CANARY_PIN = "84736251"


def fault_rules(rate: float) -> list[dict]:
    """Every kind of fault, together firing on about `rate` of eCard calls."""
    share = rate / 6
    return [
        {"match": {}, "action": "drop_after_commit", "probability": share},
        {"match": {}, "action": "error_after_commit", "probability": share},
        {"match": {}, "action": "drop_before", "probability": share},
        # Longer than the client's read timeout: processed, but the answer comes too late.
        {"match": {}, "action": "delay", "when": "after", "seconds": 1.2, "probability": share},
        {"match": {}, "action": "rate_limit", "retry_after": 1, "probability": share},
        {"match": {}, "action": "expire_token", "probability": share},
    ]


@dataclass
class ChaosReport:
    seed: int
    size: int
    invariants: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, object] = field(default_factory=dict)
    culprits: list[str] = field(default_factory=list)

    @property
    def violations(self) -> int:
        return sum(self.invariants.values())

    def text(self) -> str:
        lines = [f"chaos run: {self.size} logical transactions, seed {self.seed}"]
        lines += [f"  {name:<58} {count}" for name, count in self.invariants.items()]
        lines += [f"  {name}: {value}" for name, value in self.metrics.items()]
        if self.culprits:
            lines += ["culprits (invariants 1 and 3), masked:", *self.culprits]
        return "\n".join(lines)


class ChaosRun:
    def __init__(self, *, sandbox, size: int, seed: int, concurrency: int = 8, fault_rate=0.15):
        self.sandbox = sandbox
        self.size = size
        self.seed = seed
        self.concurrency = concurrency
        self.fault_rate = fault_rate
        self.cards: dict[int, list[str]] = {}
        self.outcomes = Counter()
        self._lock = threading.Lock()
        self._issued = 0

    # --- the workload ---------------------------------------------------------------------------
    def setup_cards(self) -> None:
        rng = random.Random(self.seed)
        for thread in range(self.concurrency):
            self.cards[thread] = []
            for _ in range(CARDS_PER_THREAD):
                number = "7" + "".join(str(rng.randrange(10)) for _ in range(15))
                self.sandbox.create_card(number, START_BALANCE, pin=CANARY_PIN)
                self.cards[thread].append(number)

    def _next(self) -> bool:
        with self._lock:
            if self._issued >= self.size:
                return False
            self._issued += 1
            return True

    def _count(self, outcome: str) -> None:
        with self._lock:
            self.outcomes[outcome] += 1

    def worker(self, index: int) -> None:
        rng = random.Random(self.seed * 1000 + index)
        mine = self.cards[index]
        approved: list[int] = []
        try:
            while self._next():
                card = rng.choice(mine)
                roll = rng.random()
                try:
                    row = self._one(rng, roll, card, approved)
                except services.CardBusyError:
                    self._count("card_busy")
                    continue
                except (services.NotVoidableError, InvalidInput):
                    self._count("not_voidable")
                    continue
                except EcardError as exc:
                    self._count(f"error:{type(exc).__name__}")
                    continue
                self._count(f"{row.kind}:{row.state}")
                if row.state == State.APPROVED and row.kind in VOID_KIND_FOR:
                    approved.append(row.id)
        finally:
            connection.close()

    def _one(self, rng, roll, card, approved):
        if roll < 0.45:
            row = services.redeem(
                card_number=card,
                amount=f"{rng.randint(1, 900) / 100:.2f}",
                pin=CANARY_PIN,
                source=rng.choice([Source.KIOSK, Source.ONLINE]),
                reference=f"chaos-{rng.randrange(10**6)}",
            )
            if rng.random() < 0.12:  # the guest walked away, or was told "not charged"
                services.give_up(transaction_id=row.id)
                self._count("gave_up")
            return row
        if roll < 0.60:
            return services.load(
                card_number=card, amount=f"{rng.randint(100, 2000) / 100:.2f}", source=Source.STAFF
            )
        if roll < 0.80:
            return services.balance_inquiry(card_number=card, pin=CANARY_PIN, source=Source.KIOSK)
        if approved:
            original = EcardTransaction.objects.get(id=approved.pop(rng.randrange(len(approved))))
            return services.void(original=original, source=Source.STAFF, reason="chaos")
        return services.balance_inquiry(card_number=card, pin=CANARY_PIN, source=Source.ONLINE)

    def run_workload(self) -> float:
        self.sandbox.set_faults(fault_rules(self.fault_rate))
        started = time.monotonic()
        threads = [threading.Thread(target=self.worker, args=(i,)) for i in range(self.concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return time.monotonic() - started

    def drain(self, *, timeout: float, token_lifetime: int) -> float:
        """Faults off, the clock past the token lifetime, then wait for every row to settle."""
        self.sandbox.clear_faults()
        self.sandbox.advance_clock(token_lifetime + 1)
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if not self._unsettled().exists() and not self._abandoned_unvoided():
                return time.monotonic() - started
            time.sleep(0.5)
        return time.monotonic() - started

    @staticmethod
    def _unsettled():
        return EcardTransaction.objects.filter(state__in=[State.CREATED, State.UNKNOWN])

    @staticmethod
    def _abandoned_unvoided() -> int:
        return EcardTransaction.objects.filter(
            state=State.APPROVED, caller_intent=CallerIntent.GAVE_UP, kind=Kind.REDEEM
        ).count()

    # --- the invariants ---------------------------------------------------------------------------
    def check(self, *, log_text: str, secret_scan: str) -> ChaosReport:
        rows = list(EcardTransaction.objects.all())
        ledger = self.sandbox.ledger()
        stats = self.sandbox.stats()
        by_request = group_by_request(ledger)
        rows_by_request = {row.request_id: row for row in rows}
        report = ChaosReport(seed=self.seed, size=self.size)
        inv = report.invariants
        culprits = CulpritReport(
            rows=rows, by_request=by_request, card_of=self._card_of, log_text=log_text
        )

        inv["1. card balance differs from the sandbox's"] = self._balance_mismatches(rows, culprits)
        inv["2. request id with more than one effect"] = sum(
            1 for entries in by_request.values() if len(entries) > 1
        )
        unmatched = [
            request_id
            for request_id, entries in by_request.items()
            if request_id not in rows_by_request
            or not self._matches(rows_by_request[request_id], entries[0])
        ]
        processed_states = {State.APPROVED, State.DECLINED, State.VOIDED}
        missing = [
            row.request_id
            for row in rows
            if row.state in processed_states and row.request_id not in by_request
        ]
        for request_id in unmatched + missing:
            culprits.unmatched_request(request_id)
        inv["3. sandbox transaction without its ledger row, or vice versa"] = len(unmatched) + len(
            missing
        )
        inv["4. row left created/unknown/needs_attention after the drain"] = sum(
            1 for row in rows if row.state in (State.CREATED, State.UNKNOWN, State.NEEDS_ATTENTION)
        )
        inv["5. replay sent after its deadline"] = EcardExchange.objects.filter(
            transaction__replay_deadline__isnull=False,
            started_at__gt=models_f("transaction__replay_deadline"),
        ).count()
        inv["6. idempotency conflict"] = stats.get("conflicts", 0) + sum(
            1 for row in rows if "idempotency" in row.error_code
        )
        voided_on_sandbox = {e["request_id"] for e in ledger if e.get("voided")}
        inv["7. approved redeem whose caller gave up, not voided"] = sum(
            1
            for row in rows
            if row.kind == Kind.REDEEM
            and row.caller_intent == CallerIntent.GAVE_UP
            and any(e["status"] == "approved" for e in by_request.get(row.request_id, []))
            and row.request_id not in voided_on_sandbox
        )
        inv["8. void of a non-approved original, or a double void"] = self._bad_voids(ledger)
        inv["9. negative balance"] = sum(
            1
            for cards in self.cards.values()
            for card in cards
            if Decimal(self.sandbox.card(card)["balance"]) < 0
        )
        canaries = [CANARY_PIN] + [card for cards in self.cards.values() for card in cards]
        inv["10. canary PIN or card number in logs, database, Redis, messages"] = sum(
            log_text.count(canary) + secret_scan.count(canary) for canary in canaries
        )

        resolved = [
            (row.completed_at - row.created_at).total_seconds()
            for row in rows
            if row.completed_at and row.attempts > 1
        ]
        report.metrics = {
            "outcomes": dict(sorted(self.outcomes.items())),
            "rows": len(rows),
            "eCard transaction calls per logical transaction": round(
                sum(stats["requests"].get(k, 0) for k in Kind.values) / max(len(rows), 1), 3
            ),
            "token requests": stats.get("token_requests"),
            "faults fired": stats.get("faults_fired"),
            "time to resolution p50/p95/max (s)": _percentiles(resolved),
            "'database is locked' in the logs": log_text.count("database is locked"),
        }
        report.culprits = culprits.lines
        return report

    def _balance_mismatches(self, rows, culprits: CulpritReport) -> int:
        expected = defaultdict(lambda: START_BALANCE)
        for row in rows:
            card = self._card_of(row)
            if row.state != State.APPROVED or card is None:
                continue
            if row.kind == Kind.LOAD:
                expected[card] += row.amount_applied
            elif row.kind == Kind.REDEEM:
                expected[card] -= row.amount_applied
        mismatches = 0
        for cards in self.cards.values():
            for card in cards:
                actual = Decimal(self.sandbox.card(card)["balance"])
                if actual != expected[card]:
                    mismatches += 1
                    culprits.mismatched_card(card, expected=expected[card], actual=actual)
        return mismatches

    def _card_of(self, row):
        from ecard_integration import crypto

        return crypto.decrypt_text(row.card_ciphertext)

    @staticmethod
    def _matches(row, entry) -> bool:
        if row.state == State.VOIDED:
            return entry["status"] == "approved" and entry.get("voided") is True
        if row.state in (State.APPROVED, State.DECLINED):
            return entry["status"] == row.state and entry["transaction_id"] == (
                row.processor_transaction_id
            )
        return False

    @staticmethod
    def _bad_voids(ledger) -> int:
        by_id = {e["transaction_id"]: e for e in ledger}
        approved_voids = Counter(
            e["original_transaction_id"]
            for e in ledger
            if e["type"].startswith("void-") and e["status"] == "approved"
        )
        bad = sum(1 for count in approved_voids.values() if count > 1)
        for original_id in approved_voids:
            original = by_id.get(original_id)
            if original is None or original["status"] != "approved":
                bad += 1
        return bad


def models_f(name):
    from django.db.models import F

    return F(name)


def _percentiles(values: list[float]):
    if not values:
        return "n/a"
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
    return f"{statistics.median(values):.2f} / {p95:.2f} / {values[-1]:.2f} (n={len(values)})"


__all__ = ["ChaosRun"]
