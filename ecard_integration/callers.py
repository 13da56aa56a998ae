"""Callers of the ledger: what a caller wants done when the ledger learns an outcome, and how staff
read the caller's references.

`ecard_integration` knows nothing of orders. A caller (ordering) registers once, from its
`AppConfig.ready()`:

- `describe(reference) -> CallerReference | None`: how staff read a transaction's caller
  reference (an order number), e.g. on the void confirmation page;
- `on_outcomes([(transaction_id, reference), …])`: called after the ledger has committed
  outcomes it learnt outside the caller's own call: reconciliation replays (a batch's together),
  a void (staff or automatic) settling its original, a row given up past its deadline;
- `tell_guest(row, due) -> str`: the sentence a guest would read about this transaction's outcome
  (`due`: what the order would still owe after it), for the certification pack's "shown" column.

A listener runs in the process that learnt the outcome (usually the worker). It is a prompt, not
the guarantee: a listener that fails, or a process that dies before it runs, is caught up by the
caller's own sweep, so listeners must be safe to run twice and late.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallerReference:
    """A caller reference as staff read it.

    `label`: what it is ("Order 7KXQ2M9P"); `url`: where staff look at it (may be empty);
    `completed`: the caller's flow finished with this money (an order paid), so reversing it
    takes money back from something the guest already has; `note`: one sentence for staff.
    """

    label: str
    url: str = ""
    completed: bool = False
    note: str = ""


Describer = Callable[[str], CallerReference | None]
Listener = Callable[[list[tuple[int, str]]], None]
GuestTeller = Callable[[object, Decimal | None], str]

_describers: list[Describer] = []
_listeners: list[Listener] = []
_tellers: list[GuestTeller] = []


def register(
    *,
    describe: Describer | None = None,
    on_outcomes: Listener | None = None,
    tell_guest: GuestTeller | None = None,
) -> None:
    """Register a caller's describer, outcome listener and/or guest teller (idempotent for the
    same function)."""
    if describe is not None and describe not in _describers:
        _describers.append(describe)
    if on_outcomes is not None and on_outcomes not in _listeners:
        _listeners.append(on_outcomes)
    if tell_guest is not None and tell_guest not in _tellers:
        _tellers.append(tell_guest)


def told_to_guest(row, due: Decimal | None = None) -> str:
    """What the registered caller tells a guest of this transaction's outcome ("" without one)."""
    for teller in _tellers:
        try:
            if sentence := teller(row, due):
                return sentence
        except Exception:  # noqa: BLE001 - evidence wording must not break a certification run
            logger.exception("telling a guest of a transaction failed")
    return ""


def describe(reference: str) -> CallerReference | None:
    """How staff read a caller reference; None when no caller recognises it (or it is empty)."""
    if not reference:
        return None
    for describer in _describers:
        try:
            found = describer(reference)
        except Exception:  # noqa: BLE001 - a caller's bug must not break a staff page
            logger.exception("describing a caller reference failed")
            continue
        if found is not None:
            return found
    return None


def notify(transaction_id: int, reference: str) -> None:
    """`notify_many` for one outcome."""
    notify_many([(transaction_id, reference)])


def notify_many(outcomes: list[tuple[int, str]]) -> None:
    """Tell every listener that the ledger learnt these outcomes (transaction id, caller
    reference). Never raises: the caller's sweep is the guarantee, this only makes it prompt."""
    outcomes = [(transaction_id, reference) for transaction_id, reference in outcomes if reference]
    if not outcomes:
        return
    for listener in _listeners:
        try:
            listener(outcomes)
        except Exception:  # noqa: BLE001 - the outcomes are committed; the sweep catches up
            logger.exception("outcome listener failed for %d transaction(s)", len(outcomes))
