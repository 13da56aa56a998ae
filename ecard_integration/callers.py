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
- `links(transaction) -> [CallerReference, …]`: what staff open from a transaction's or an
  exchange's page (its order, its tender);
- `stores() -> [(store id, name), …]`: the store ids the caller sends, the staff list's choices
  for its store filter (known choices: no `SELECT DISTINCT` over the ledger).

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
Linker = Callable[[object], list[CallerReference]]
StoreLister = Callable[[], list[tuple[str, str]]]

_describers: list[Describer] = []
_listeners: list[Listener] = []
_tellers: list[GuestTeller] = []
_linkers: list[Linker] = []
_store_listers: list[StoreLister] = []


def register(
    *,
    describe: Describer | None = None,
    on_outcomes: Listener | None = None,
    tell_guest: GuestTeller | None = None,
    links: Linker | None = None,
    stores: StoreLister | None = None,
) -> None:
    """Register a caller's hooks (each idempotent for the same function)."""
    for hook, registry in (
        (describe, _describers),
        (on_outcomes, _listeners),
        (tell_guest, _tellers),
        (links, _linkers),
        (stores, _store_listers),
    ):
        if hook is not None and hook not in registry:
            registry.append(hook)


def told_to_guest(row, due: Decimal | None = None) -> str:
    """What the registered caller tells a guest of this transaction's outcome ("" without one)."""
    for teller in _tellers:
        try:
            if sentence := teller(row, due):
                return sentence
        except Exception:  # noqa: BLE001 - evidence wording must not break a certification run
            logger.exception("telling a guest of a transaction failed")
    return ""


def links(transaction) -> list[CallerReference]:
    """What staff open from this transaction's page: its order, its tender (empty if none)."""
    found: list[CallerReference] = []
    for linker in _linkers:
        try:
            found += linker(transaction)
        except Exception:  # noqa: BLE001 - a caller's bug must not break a staff page
            logger.exception("linking a transaction to its caller failed")
    return found


def store_choices() -> list[tuple[str, str]]:
    """Every caller's (store id, name), in the callers' order, each store id once."""
    choices: dict[str, str] = {}
    for lister in _store_listers:
        try:
            for store_id, name in lister():
                choices.setdefault(store_id, name)
        except Exception:  # noqa: BLE001 - the filter still offers what the others listed
            logger.exception("listing a caller's stores failed")
    return list(choices.items())


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
