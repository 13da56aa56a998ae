"""Online ordering pages: the order, paying it with gift cards (htmx polling while a payment is
confirmed), removing a card payment, cancelling."""

import logging
from decimal import Decimal

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from ecard_integration.errors import InvalidInput
from ordering import selectors, services
from ordering.cart import Cart
from ordering.forms import (
    ApplyBalanceForm,
    PayForm,
    new_attempt_key,
)
from ordering.interrupted import interrupted_page, interrupted_payment_page
from ordering.models import Order, OrderStatus
from ordering.offers import CardOffer, KeptCard
from ordering.pins import throttle
from ordering.pins.attempt import Guest, guest_call_seconds
from ordering.selectors import money, money_text
from ordering.services import OutcomeKind as Kind
from ordering.views.common import (
    KEPT_CARD_SESSION_KEY,
    OFFER_SESSION_KEY,
    client_ip,
    see_other,
    session_key,
    show_error,
)

logger = logging.getLogger(__name__)


# --- The order and its payment ------------------------------------------------------------------


def order_url(order: Order) -> str:
    return reverse("ordering:order", args=[order.number, order.access_token])


def _guest_order(number: str, token: str, *, attempt_key: str | None = None) -> Order:
    order = selectors.order_for_guest(number, token, attempt_key=attempt_key)
    if order is None:
        raise Http404("No such order")
    return order


def _refresh(request, order: Order) -> Order:
    """Bring the order up to date; tell the guest when a pending payment did not go through."""
    return services.bring_up_to_date(
        order, on_not_charged=lambda message: messages.warning(request, message)
    )


def _offer(request) -> CardOffer:
    return CardOffer(request.session, OFFER_SESSION_KEY)


def _kept(request) -> KeptCard:
    return KeptCard(request.session, KEPT_CARD_SESSION_KEY)


def _fresh_pay_form(request, order: Order) -> PayForm:
    """The pay form as a GET shows it: after a wrong PIN (or a payment that did not go through)
    with the card number filled in, the PIN empty, and the sentence saying why on the form."""
    card_number, error = _kept(request).take(order.number)
    form = PayForm(initial={"attempt_key": new_attempt_key(), "kept_card": bool(card_number)})
    form.kept_last4 = card_number[-4:]  # the page shows only these; the number stays here
    if error:
        show_error(form, error)
    return form


def _order_context(request, order: Order, *, pay_form=None, apply_form=None) -> dict:
    due = selectors.amount_due(order)
    offer = _offer(request).shown(order, due)
    context = {
        "order": order,
        "lines": list(order.lines.all()),
        "tenders": selectors.shown_tenders(order),
        "paid_tenders": list(selectors.counting_tenders(order).select_related("transaction")),
        "returned_tenders": selectors.returned_tenders(order) if order.is_completed else [],
        "due": due,
        "paid": selectors.amount_paid(order),
        "pay_form": pay_form
        or (
            _fresh_pay_form(request, order)
            if order.status == OrderStatus.OPEN
            else PayForm(initial={"attempt_key": new_attempt_key()})
        ),
        "apply_form": apply_form
        or (
            ApplyBalanceForm(initial={"attempt_key": new_attempt_key(), "offer": offer["id"]})
            if offer
            else None
        ),
        "offer": offer,
        "confirming": order.status in (OrderStatus.PAYING, OrderStatus.PAYMENT_PENDING),
        "attention": order.tenders.filter(
            released_at__isnull=True, status="needs_attention"
        ).exists(),
    }
    if context["paid"] > 0 and order.status == OrderStatus.OPEN:
        context["refund_by"] = services.refund_by(order)  # a partly paid order: when it is undone
    context["call_seconds"] = round(guest_call_seconds())
    context["shown"] = status_shown(context)
    return context


def status_shown(context: dict) -> str:
    """What the confirming panel says, as a token the poll sends back (see `order_status`)."""
    return f"{context['order'].status}{'-attention' if context['attention'] else ''}"


def _render_order(request, order, *, status=200, **forms):
    return render(
        request, "ordering/order.html", _order_context(request, order, **forms), status=status
    )


@never_cache
@require_GET
def order(request, number, token):
    order = _refresh(request, _guest_order(number, token))
    return _render_order(request, order)


@never_cache
@require_GET
def order_status(request, number, token):
    """Polled by htmx while a payment is being confirmed; sends the page on when it is settled."""
    order = _refresh(request, _guest_order(number, token))
    if order.status in (OrderStatus.PAYING, OrderStatus.PAYMENT_PENDING):
        context = _order_context(request, order)
        if request.htmx and request.GET.get("shown") == status_shown(context):
            # Nothing new: 204 leaves the page (and what screen readers announced) untouched.
            return HttpResponse(status=204)
        return render(request, "ordering/_order_status.html", context)
    if request.htmx:
        return HttpResponseClientRedirect(order_url(order))
    return see_other(order_url(order))


def _after_payment(
    request, order: Order, outcome: services.PaymentOutcome, card_number: str, form_name: str
):
    if outcome.kind == Kind.INSUFFICIENT:
        _kept(request).clear()
        _offer(request).make(order, card_number, outcome.available_balance)
        messages.warning(request, outcome.message)
    elif outcome.kind in (Kind.DECLINED, Kind.FAILED) and form_name == "pay_form":
        # Said on the pay form itself; the number kept when typing it again may help.
        if outcome.kind == Kind.FAILED:
            _offer(request).clear()
        keep = outcome.may_retry or outcome.kind == Kind.FAILED
        _kept(request).keep(order.number, card_number if keep else None, outcome.message)
    elif outcome.kind == Kind.DECLINED:  # the offered card's PIN: said above the offer's form
        messages.error(request, outcome.message)
    else:
        _kept(request).clear()
        _offer(request).clear()
        if outcome.kind in (Kind.FAILED, Kind.CANCELLED):
            messages.error(request, outcome.message)
        elif outcome.kind in (Kind.PARTIAL, Kind.IN_PROGRESS):
            messages.info(request, outcome.message)
    return see_other(order_url(order))


def _payment_refused(request, order, exc: services.OrderingError, form_name: str, form):
    """Nothing was sent: show why, on the form when the guest can fix it."""
    if isinstance(exc, services.LastTryError):
        # eCard's last try for this card: the guest reads why, types the PIN again and confirms.
        form.data = form.data.copy()
        form.data["confirm_last_try"] = "1"
        form.add_error(None, exc.message)
        return _render_order(request, order, status=409, **{form_name: form})
    if not isinstance(exc, services.CheckoutClosedError | services.PaymentInProgressError):
        field = exc.field if exc.field in form.fields else None
        form.add_error(field, exc.message)
        status = 429 if isinstance(exc, services.PinThrottledError) else 400
        return _render_order(request, order, status=status, **{form_name: form})
    messages.error(request, exc.message)
    return see_other(order_url(order))


def payment_interrupted(request, number: str, token: str) -> HttpResponse:
    """The page for a payment request that failed part-way: the payment is being confirmed,
    here is the order."""
    order_link = reverse("ordering:order", args=[number, token])
    return interrupted_page(
        "ordering/payment_interrupted.html",
        {"order_url": order_link, "number": number},
        retry_after=15,
    )


@never_cache
@require_POST
@interrupted_payment_page(payment_interrupted)
def order_pay(request, number, token):
    # The payment form's tender, if a first submission made it, is found with the order.
    order = _guest_order(number, token, attempt_key=request.POST.get("attempt_key"))
    if request.POST.get("different_card"):
        _kept(request).clear()
        return see_other(order_url(order))
    form = PayForm(request.POST)
    valid = form.is_valid()
    card_number = form.cleaned_data.get("card_number", "")
    if form.cleaned_data.get("kept_card"):
        card_number, _error = _kept(request).take(order.number)
        if not card_number:  # expired or cleared meanwhile: nothing was sent
            messages.error(request, gettext("Please enter the card number again."))
            return see_other(order_url(order))
        form.kept_last4 = card_number[-4:]
    if not valid:
        form.keep_typed_card(_kept(request), order.number)
        return _render_order(request, order, status=400, pay_form=form)
    return _pay(
        request,
        order,
        form,
        "pay_form",
        card_number=card_number,
        amount=form.cleaned_data["amount"],
    )


@never_cache
@require_POST
@interrupted_payment_page(payment_interrupted)
def order_apply_balance(request, number, token):
    order = _guest_order(number, token, attempt_key=request.POST.get("attempt_key"))
    form = ApplyBalanceForm(request.POST)
    offer = _offer(request).get(order)
    if offer is None or form.data.get("offer") != offer["id"]:
        messages.error(request, gettext("Please enter the card again."))
        return see_other(order_url(order))
    if not form.is_valid():
        return _render_order(request, order, status=400, apply_form=form)
    card_number = CardOffer.card_number(offer)
    amount = min(money(Decimal(offer["amount"])), selectors.amount_due(order))
    return _pay(
        request,
        order,
        form,
        "apply_form",
        card_number=card_number,
        amount=amount if amount > 0 else None,
    )


def _pay(request, order: Order, form, form_name: str, *, card_number: str, amount):
    """One card payment from the order page's `form_name`; that form again when nothing was
    sent and the guest can fix it."""
    data = form.cleaned_data
    try:
        outcome = services.pay_with_card(
            order=order,
            card_number=card_number,
            pin=data["pin"],
            amount=amount,
            attempt_key=data["attempt_key"],
            guest=Guest.online(session_key=session_key(request), ip=client_ip(request)),
            confirm_last_try=data["confirm_last_try"],
        )
    except throttle.ThrottleUnavailableError as exc:
        form.add_error(None, exc.message)  # nothing was sent
        return _render_order(request, order, status=503, **{form_name: form})
    except InvalidInput as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return _render_order(request, order, status=400, **{form_name: form})
    except services.OrderingError as exc:
        return _payment_refused(request, order, exc, form_name, form)
    return _after_payment(request, order, outcome, card_number, form_name)


@never_cache
@require_POST
def order_remove_tender(request, number, token, tender_id):
    order = _guest_order(number, token)
    try:
        tender = services.remove_tender(order=order, tender_id=int(tender_id))
    except services.OrderingError as exc:
        messages.error(request, exc.message)
        return see_other(order_url(order))
    if tender.status == "voided":
        messages.success(
            request,
            gettext("%(amount)s returned to card %(card)s.")
            % {"amount": money_text(tender.amount), "card": tender.card_masked},
        )
    else:
        messages.success(
            request,
            gettext(
                "Card %(card)s was removed. %(amount)s is being returned to it: nothing is kept."
            )
            % {"amount": money_text(tender.amount), "card": tender.card_masked},
        )
    return see_other(order_url(order))


@never_cache
@require_POST
def order_cancel(request, number, token):
    order = _guest_order(number, token)
    try:
        services.cancel_order(order=order)
    except services.OrderingError as exc:
        messages.error(request, exc.message)
        return see_other(order_url(order))
    _offer(request).clear()
    Cart(request.session).restore(order)
    messages.success(
        request,
        gettext(
            "Your order was cancelled. Nothing is charged to your cards: "
            "any amount already taken is returned to them."
        ),
    )
    return see_other(order_url(order))
