"""Kiosk guest pages: paying the order with gift cards, confirming, the receipt, cancelling."""

import logging
import math
from decimal import Decimal
from functools import wraps

from django.conf import settings
from django.http import HttpResponse
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from config.http import SeeOther
from config.security import client_ip
from kiosk import services
from kiosk.forms import CardForm, PinForm
from kiosk.guest import GuestSession
from kiosk.views.common import IN_FLIGHT, PIN_REFUSALS, go, guest_view, page, pin_refused, url
from ordering import selectors
from ordering import services as ordering_services
from ordering.forms import first_error, new_attempt_key
from ordering.interrupted import interrupted_page, interrupted_payment_page
from ordering.models import COMPLETED_STATUSES, OrderStatus
from ordering.offers import CardOffer
from ordering.selectors import money
from ordering.services import OutcomeKind as Kind

logger = logging.getLogger(__name__)

NOTHING_CHARGED = gettext_lazy("Nothing was charged.")
# The receipt returns to the start by itself after this long (never later than the idle reset).
RECEIPT_RETURN_SECONDS = 30


# --- Paying -------------------------------------------------------------------------------------


def order_page(view=None, *, open_only: bool = False, paying: bool = False):
    """A page of the visit's order: the view gets the order brought up to date; without one the
    guest goes back to the menu. `open_only`: an order no longer open goes to its status's page.
    `paying`: the PIN form's submission gets the order as read, with the tender its attempt key
    made if any (the payment's own claim checks the order's state, and says why it refused)."""

    def decorate(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            attempt_key = request.POST.get("attempt_key") if paying else None
            order = request.guest.order(attempt_key=attempt_key)
            if order is None:
                return SeeOther(url(request.guest, "menu"))
            if not paying:
                order = ordering_services.bring_up_to_date(order)
            if open_only and order.status != OrderStatus.OPEN:
                return SeeOther(_route(request.guest, order))
            return view(request, order, *args, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate


def _route(guest, order):
    """The page for an order's status, when it is not the one asked for."""
    if order.status in COMPLETED_STATUSES:  # paid, possibly refunded since: its receipt
        return url(guest, "receipt")
    if order.status == OrderStatus.CANCELLED:
        return url(guest, "cancelled")
    if order.status in IN_FLIGHT:
        return url(guest, "confirming")
    return url(guest, "pay")


def _order_context(order) -> dict:
    return {
        "order": order,
        "lines": list(order.lines.all()),
        "tenders": selectors.shown_tenders(order),
        "due": selectors.amount_due(order),
        "paid": selectors.amount_paid(order),
    }


@guest_view
@require_GET
@order_page(open_only=True)
def pay(request, order):
    context = _order_context(order)
    offer = request.guest.offer.shown(order, context["due"])
    return page(request, "kiosk/pay.html", {**context, "offer": offer, "card_form": CardForm()})


@guest_view
@require_POST
@order_page(open_only=True)
def pay_card(request, order):
    guest = request.guest
    form = CardForm(request.POST)
    if not form.is_valid():
        # The card form and its error only: the balance offer is a screen of its own.
        context = {**_order_context(order), "offer": None, "card_form": form}
        return page(request, "kiosk/pay.html", context, status=400)
    guest.offer.clear()
    guest.set_payment(form.cleaned_data["card_number"])
    return SeeOther(url(guest, "pay_pin"))


@guest_view
@require_POST
@order_page
def pay_use_balance(request, order):
    """Declined for insufficient funds: take what the card has, pay the rest with another."""
    guest = request.guest
    offer = guest.offer.get(order)
    if offer is None or order.status != OrderStatus.OPEN:
        return SeeOther(_route(guest, order))
    amount = min(money(Decimal(offer["amount"])), selectors.amount_due(order))
    guest.offer.clear()
    guest.set_payment(CardOffer.card_number(offer), amount if amount > 0 else None)
    return SeeOther(url(guest, "pay_pin"))


@guest_view
@require_POST
def pay_change_card(request):
    """Another card: from the PIN page, or instead of the declined card's balance."""
    request.guest.clear_payment()
    request.guest.offer.clear()
    return SeeOther(url(request.guest, "pay"))


def last_try_notice(request, card_number: str | None) -> str:
    """The notice for a card at eCard's last try (two wrong PINs in a row there), else ""."""
    if card_number and services.last_try_due(kiosk=request.kiosk, card_number=card_number):
        return gettext(ordering_services.LAST_TRY)
    return ""


def _pin_page(request, order, form, *, status=200, last_try=""):
    payment = request.guest.payment()
    amount = Decimal(payment["amount"]) if payment.get("amount") else selectors.amount_due(order)
    context = {"order": order, "last4": payment["last4"], "amount": money(amount), "form": form}
    context["last_try"] = last_try
    # The "Processing…" screen says how long sending may take: eCard's time budget for a guest.
    context["send_seconds"] = math.ceil(settings.ECARD_GUEST_BUDGET_SECONDS)
    return page(request, "kiosk/pay_pin.html", context, status=status)


@guest_view
@require_GET
@order_page(open_only=True)
def pay_pin(request, order):
    if request.guest.payment() is None:
        return SeeOther(url(request.guest, "pay"))
    # The PIN screen says so before eCard's last try; the form then carries the confirmation.
    last_try = last_try_notice(request, request.guest.payment_card())
    initial = {"attempt_key": new_attempt_key(), "confirm_last_try": "1" if last_try else ""}
    return _pin_page(request, order, PinForm(initial=initial), last_try=last_try)


def payment_interrupted(request) -> HttpResponse:
    """The kiosk's pay submit failed part-way: the payment is being confirmed, and the page moves
    on to the confirming page by itself."""
    return interrupted_page(
        "kiosk/payment_interrupted.html",
        {"confirming_url": url(request.guest, "confirming")},
        retry_after=10,
    )


@guest_view
@require_POST
@interrupted_payment_page(payment_interrupted)
@order_page(paying=True)
def pay_submit(request, order):
    guest = request.guest
    payment = guest.payment()
    if payment is None:
        return SeeOther(_route(guest, order))
    form = PinForm(request.POST)
    if not form.is_valid():
        guest.flash(first_error(form), "error", note=NOTHING_CHARGED)
        return SeeOther(url(guest, "pay_pin"))
    try:
        outcome = services.pay(
            kiosk=request.kiosk,
            order=order,
            card_number=guest.payment_card(),
            pin=form.cleaned_data["pin"],
            amount=Decimal(payment["amount"]) if payment.get("amount") else None,
            attempt_key=form.cleaned_data["attempt_key"],
            ip=client_ip(request),
            confirm_last_try=form.cleaned_data["confirm_last_try"],
        )
    except PIN_REFUSALS as exc:
        return pin_refused(
            guest,
            exc,
            again="pay_pin",
            back="pay",
            forget=guest.clear_payment,
            note=NOTHING_CHARGED,
        )
    except ordering_services.OrderingError as exc:
        guest.flash(exc.message, "error")
        order.refresh_from_db()
        return SeeOther(_route(guest, order))
    return SeeOther(after_outcome(guest, outcome))


def after_outcome(guest: GuestSession, outcome: ordering_services.PaymentOutcome) -> str:
    """Keep what the next step needs, say what happened, and return the next page's URL."""
    kind = outcome.kind
    if kind == Kind.PAID:
        guest.clear_payment()
        guest.offer.clear()
        return url(guest, "receipt")
    if kind in (Kind.PENDING, Kind.IN_PROGRESS):
        return url(guest, "confirming")
    if kind == Kind.CANCELLED:
        guest.clear_payment()
        return url(guest, "cancelled")
    if kind == Kind.INSUFFICIENT:
        card = guest.payment_card()
        guest.clear_payment()
        if card:
            guest.offer.make(outcome.order, card, outcome.available_balance)
        guest.flash(outcome.message, "warning", note=NOTHING_CHARGED)
        return url(guest, "pay")
    if kind == Kind.PARTIAL:
        guest.clear_payment()
        guest.offer.clear()
        guest.flash(outcome.message, "success")
        return url(guest, "pay")
    guest.flash(outcome.message, "error", note=NOTHING_CHARGED if kind == Kind.DECLINED else "")
    # Declines the guest fixes by typing the PIN again (or choosing another card from the PIN page).
    if outcome.may_retry:
        return url(guest, "pay_pin")
    guest.clear_payment()
    return url(guest, "pay")


def _confirming_context(order) -> dict:
    attention = services.needs_attention(order)
    return {
        **_order_context(order),
        "attention": attention,
        "shown": f"{order.status}{'-attention' if attention else ''}",
    }


@guest_view
@require_GET
@order_page
def confirming(request, order):
    if order.status not in IN_FLIGHT:
        return SeeOther(_settled(request.guest, order))
    context = _confirming_context(order)
    return page(request, "kiosk/confirming.html", context, suspend_idle=not context["attention"])


@guest_view(poll=True)
@require_GET
def status(request):
    """Polled by htmx while a payment is being confirmed; moves the page on once it is known."""
    order = request.guest.order()
    if order is None:
        return go(request, url(request.guest, "menu"))
    order = ordering_services.bring_up_to_date(order)
    if order.status in IN_FLIGHT:
        context = _confirming_context(order)
        if request.GET.get("shown") == context["shown"]:
            return HttpResponse(status=204)  # nothing new: the page (and screen reader) stay
        # Attention: the page reloads so that the idle reset runs again.
        return go(request, url(request.guest, "confirming"))
    return go(request, _settled(request.guest, order))


def _settled(guest: GuestSession, order) -> str:
    """A payment being confirmed is known now: the outcome of the visit's last tender decides."""
    if order.status == OrderStatus.PAID:
        guest.clear_payment()
        guest.offer.clear()
        return url(guest, "receipt")
    last = order.tenders.select_related("transaction").order_by("-id").first()
    if last is not None and guest.payment() is not None:
        return after_outcome(guest, ordering_services.outcome_for(order, last))
    return _route(guest, order)


@guest_view
@require_GET
@order_page
def receipt(request, order):
    if order.status not in COMPLETED_STATUSES:
        return SeeOther(_route(request.guest, order))
    tenders = list(selectors.counting_tenders(order).select_related("transaction"))
    request.guest.mark_receipt_shown(order)  # the idle reset counts from here (touched above)
    return page(
        request,
        "kiosk/receipt.html",
        {
            **_order_context(order),
            "paid_tenders": tenders,
            "returned_tenders": selectors.returned_tenders(order),
            "return_seconds": receipt_return_seconds(),
        },
    )


def receipt_return_seconds() -> int:
    """How long the receipt stays before the screen returns to the start by itself."""
    return int(
        min(RECEIPT_RETURN_SECONDS, services.idle_seconds() + services.idle_countdown_seconds())
    )


@guest_view
@require_POST
@order_page
def cancel(request, order):
    guest = request.guest
    try:
        services.cancel(order=order)
    except ordering_services.OrderingError as exc:
        guest.flash(exc.message, "error")
        order.refresh_from_db()
        return SeeOther(_route(guest, order))
    guest.clear_payment()
    guest.offer.clear()
    return SeeOther(url(guest, "cancelled"))


@guest_view
@require_GET
@order_page
def cancelled(request, order):
    if order.status != OrderStatus.CANCELLED:
        return SeeOther(_route(request.guest, order))
    returned = [t for t in selectors.order_tenders(order) if t.released_at and t.amount]
    returned = [t for t in returned if t.status in ("voided", "approved", "unknown")]
    return page(request, "kiosk/cancelled.html", {"order": order, "returned": returned})
