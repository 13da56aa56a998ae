"""Kiosk pages: enrollment, the attract screen, and one guest's visit (order, pay, balance).

Every request is checked twice before a view runs: the device credential (`device_view`: an
unenrolled browser only ever sees the enrollment prompt, a disabled kiosk an out-of-service
screen) and, for guest pages, the guest id in the URL against the session (`guest_view`: a page of
an earlier visit, reached with the back button, never shows). Every response is `no-store`.
Actions are POST and answer with a redirect; the logic is in `kiosk.services` and ordering's.
"""

import logging
from decimal import Decimal
from functools import wraps

from django.http import HttpResponse, HttpResponseRedirect
from django.middleware.csrf import rotate_token
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from config.security import client_ip
from ecard_integration.errors import InvalidInput
from kiosk import services
from kiosk.forms import BalancePinForm, CardForm, CheckoutForm, EnrollForm, PinForm, QuantityForm
from kiosk.guest import GuestSession, unseal
from ordering import selectors
from ordering import services as ordering_services
from ordering.cart import Cart, CartFullError
from ordering.forms import AddToCartForm, new_attempt_key
from ordering.interrupted import interrupted_page, interrupted_payment_page
from ordering.models import ACTIVE_STATUSES, COMPLETED_STATUSES, OrderStatus
from ordering.offers import CardOffer
from ordering.pins import throttle
from ordering.selectors import money
from ordering.services import OutcomeKind as Kind

logger = logging.getLogger(__name__)

IN_FLIGHT = (OrderStatus.PAYING, OrderStatus.PAYMENT_PENDING)


class SeeOther(HttpResponseRedirect):
    status_code = 303


def go(request, url: str):
    """A redirect that htmx follows as a whole-page navigation."""
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return SeeOther(url)


def first_error(form) -> str:
    for errors in form.errors.values():
        if errors:
            return errors[0]
    return "Please check what you entered."


# --- The device credential ----------------------------------------------------------------------


def set_device_cookie(response, kiosk) -> None:
    response.set_cookie(
        services.COOKIE_NAME,
        services.issue_credential(kiosk),
        max_age=min(services.credential_max_age_seconds(), 400 * 24 * 60 * 60),
        path=services.COOKIE_PATH,
        secure=services.cookie_secure(),
        httponly=True,
        samesite="Strict",
    )


def delete_device_cookie(response) -> None:
    response.delete_cookie(services.COOKIE_NAME, path=services.COOKIE_PATH, samesite="Strict")


def device_view(view):
    """Check the device credential on every request; no-store on every response."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        check = services.authenticate_device(request.COOKIES.get(services.COOKIE_NAME))
        if check.status == "inactive":
            response = out_of_service(request)
        elif not check.ok:
            if GuestSession(request.session).has_anything():
                services.wipe_guest_session(session=request.session)
            response = go(request, reverse("kiosk:enroll"))
            if check.status != "missing":
                delete_device_cookie(response)
        else:
            request.kiosk = check.kiosk
            response = view(request, *args, **kwargs)
            if check.reissue:
                set_device_cookie(response, check.kiosk)
        add_never_cache_headers(response)
        return response

    return wrapper


def out_of_service(request):
    if GuestSession(request.session).has_anything():
        services.wipe_guest_session(session=request.session)
    if request.htmx:  # a poll: the whole page moves to the out-of-service screen
        return HttpResponseClientRedirect(reverse("kiosk:attract"))
    return render(request, "kiosk/out_of_service.html", status=503)


# --- Guest pages --------------------------------------------------------------------------------


def guest_view(view=None, *, poll: bool = False):
    """A page of one guest's visit: `/kiosk/g/<guest id>/…`, the id checked against the session.

    A visit idle for longer than the idle time, the countdown and some slack is ended here even if
    the page's JavaScript did not, unless a payment is in flight or its receipt is still to be
    shown (`services.idle_reset_waits`). `poll`: htmx polling, which
    does not count as the guest touching the screen.
    """

    def decorate(view):
        @device_view
        @wraps(view)
        def wrapper(request, guest_id, *args, **kwargs):
            guest = GuestSession(request.session)
            if not guest.belongs_to(guest_id, request.kiosk):
                return go(request, guest_home(guest, request.kiosk))
            idle = guest.idle_seconds() > services.server_idle_limit_seconds()
            if idle and not services.idle_reset_waits(guest, guest.order()):
                services.wipe_guest_session(session=request.session)
                rotate_token(request)
                return go(request, reverse("kiosk:attract"))
            if not poll:
                guest.touch()
            request.guest = guest
            return view(request, *args, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate


def guest_home(guest: GuestSession, kiosk) -> str:
    """Where a stray or stale page sends the browser: the current visit's page, or the start."""
    if guest.id is None or not guest.belongs_to(guest.id, kiosk):
        return reverse("kiosk:attract")
    if guest.session.get("kiosk_order"):
        return url(guest, "pay")
    return url(guest, "menu")


def url(guest: GuestSession, name: str, *args) -> str:
    return reverse(f"kiosk:{name}", args=[guest.id, *args])


def page(request, template: str, context: dict | None = None, *, status=200, suspend_idle=False):
    """Render a guest page with what every one needs: the visit, idle settings, the message."""
    guest = request.guest
    full = {
        "kiosk": request.kiosk,
        "guest_id": guest.id,
        "idle_seconds": services.idle_seconds(),
        "idle_countdown_seconds": services.idle_countdown_seconds(),
        "suspend_idle": suspend_idle,
        "flash": guest.pop_flash(),
        "cart": Cart(request.session),
        **(context or {}),
    }
    return render(request, template, full, status=status)


# --- Enrollment and the attract screen ----------------------------------------------------------


def _enroll_response(request, form, *, status=200, code_in_link=False, error=""):
    return render(
        request,
        "kiosk/enroll.html",
        {"form": form, "code_in_link": code_in_link, "error": error},
        status=status,
    )


@require_http_methods(["GET", "POST"])
def enroll(request):
    """Enroll this browser as a kiosk with a one-time code from the staff admin."""
    if request.method == "GET":
        response = _enroll_response(request, EnrollForm())
    else:
        response = _enroll_post(request, EnrollForm(request.POST))
    add_never_cache_headers(response)
    return response


@require_http_methods(["GET", "POST"])
def enroll_link(request, code):
    """The link form of a code: GET only asks to confirm (link previews must not use it up)."""
    form = EnrollForm(request.POST if request.method == "POST" else None, initial={"code": code})
    if request.method == "POST":
        response = _enroll_post(request, form)
    else:
        response = _enroll_response(request, form, code_in_link=True)
    add_never_cache_headers(response)
    return response


def _enroll_post(request, form):
    if not form.is_valid():
        return _enroll_response(request, form, status=400)
    try:
        kiosk = services.enroll(code=form.cleaned_data["code"], ip=client_ip(request))
    except services.EnrollmentError as exc:
        return _enroll_response(request, EnrollForm(), status=400, error=exc.message)
    if GuestSession(request.session).has_anything():
        services.wipe_guest_session(session=request.session)
    rotate_token(request)
    response = SeeOther(reverse("kiosk:attract"))
    set_device_cookie(response, kiosk)
    return response


@device_view
@require_GET
def attract(request):
    guest = GuestSession(request.session)
    return render(
        request,
        "kiosk/attract.html",
        {
            "kiosk": request.kiosk,
            # A visit left open (the back button): the idle countdown still ends it.
            "guest_id": guest.id
            if guest.data and guest.data.get("kiosk") == request.kiosk.id
            else None,
            "idle_seconds": services.idle_seconds(),
            "idle_countdown_seconds": services.idle_countdown_seconds(),
        },
    )


@device_view
@require_POST
def start(request):
    guest_id = services.start_guest_session(session=request.session, kiosk=request.kiosk)
    rotate_token(request)
    name = "balance" if request.POST.get("next") == "balance" else "menu"
    return SeeOther(reverse(f"kiosk:{name}", args=[guest_id]))


@guest_view
@require_POST
def end(request):
    """The guest is done, or the idle countdown ran out: wipe the visit, back to the start."""
    services.wipe_guest_session(session=request.session)
    rotate_token(request)
    return go(request, reverse("kiosk:attract"))


@guest_view
@require_POST
def touch(request):
    """Keep-alive from the page while the guest is touching it (no other request may happen)."""
    return HttpResponse(status=204)


# --- Menu and cart ------------------------------------------------------------------------------


@guest_view
@require_GET
def menu(request):
    return page(request, "kiosk/menu.html", {"categories": selectors.menu_categories()})


@guest_view
@require_POST
def cart_add(request):
    guest = request.guest
    form = AddToCartForm(request.POST)
    if not form.is_valid():
        guest.flash(first_error(form), "error")
        return SeeOther(url(guest, "menu"))
    item = selectors.items_by_id([form.cleaned_data["item"]]).get(form.cleaned_data["item"])
    if item is None:
        guest.flash("That item is not on the menu.", "error")
        return SeeOther(url(guest, "menu"))
    try:
        quantity = Cart(request.session).add(item, form.cleaned_data["quantity"])
    except CartFullError:
        guest.flash("Your cart is full. Pay for it, or remove an item first.", "error")
    else:
        guest.flash(f"Added {item.name} (now {quantity} in your cart).", "success")
    return SeeOther(url(guest, "menu") + f"#item-{item.id}")


@guest_view
@require_GET
def cart_view(request):
    cart = Cart(request.session)
    total = cart.total()
    return page(
        request,
        "kiosk/cart.html",
        {
            "lines": cart.lines(),
            "total": total,
            "checkout_form": CheckoutForm(initial={"expected_total": f"{total:.2f}"}),
        },
    )


@guest_view
@require_POST
def cart_update(request, item_id):
    guest = request.guest
    form = QuantityForm(request.POST)
    cart = Cart(request.session)
    if not form.is_valid():
        guest.flash("Choose a quantity from 1 to 20.", "error")
    elif form.cleaned_data["quantity"] == 0:
        cart.remove(int(item_id))
        guest.flash("Item removed from your cart.", "success")
    elif form.cleaned_data["quantity"] > 20 or not cart.set_quantity(
        int(item_id), form.cleaned_data["quantity"]
    ):
        guest.flash("Choose a quantity from 1 to 20.", "error")
    return SeeOther(url(guest, "cart"))


@guest_view
@require_POST
def checkout(request):
    guest = request.guest
    current = guest.order()
    if current is not None and current.status in ACTIVE_STATUSES:
        return SeeOther(url(guest, "pay"))
    form = CheckoutForm(request.POST)
    cart = Cart(request.session)
    if not form.is_valid():
        guest.flash(first_error(form), "error")
        return SeeOther(url(guest, "cart"))
    try:
        order = services.start_order(
            kiosk=request.kiosk,
            entries=cart.entries(),
            expected_total=form.cleaned_data["expected_total"],
        )
    except ordering_services.CartChangedError as exc:
        cart.accept_catalog()
        guest.flash(" ".join(exc.problems), "error")
        return SeeOther(url(guest, "cart"))
    except ordering_services.OrderingError as exc:
        guest.flash(exc.message, "error")
        return SeeOther(url(guest, "cart"))
    cart.clear()
    guest.set_order(order)
    return SeeOther(url(guest, "pay"))


# --- Paying -------------------------------------------------------------------------------------


def _order_or_redirect(request):
    """The visit's order brought up to date, or a redirect to where the guest should be."""
    guest = request.guest
    order = guest.order()
    if order is None:
        return None, SeeOther(url(guest, "menu"))
    return ordering_services.bring_up_to_date(order), None


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
def pay(request):
    order, redirect = _order_or_redirect(request)
    if redirect:
        return redirect
    if order.status != OrderStatus.OPEN:
        return SeeOther(_route(request.guest, order))
    context = _order_context(order)
    offer = request.guest.offer.shown(order, context["due"])
    return page(request, "kiosk/pay.html", {**context, "offer": offer, "card_form": CardForm()})


@guest_view
@require_POST
def pay_card(request):
    guest = request.guest
    order, redirect = _order_or_redirect(request)
    if redirect:
        return redirect
    if order.status != OrderStatus.OPEN:
        return SeeOther(_route(guest, order))
    form = CardForm(request.POST)
    if not form.is_valid():
        context = {**_order_context(order), "offer": guest.offer.get(order), "card_form": form}
        return page(request, "kiosk/pay.html", context, status=400)
    guest.offer.clear()
    guest.set_payment(form.cleaned_data["card_number"])
    return SeeOther(url(guest, "pay_pin"))


@guest_view
@require_POST
def pay_use_balance(request):
    """Declined for insufficient funds: take what the card has, pay the rest with another."""
    guest = request.guest
    order, redirect = _order_or_redirect(request)
    if redirect:
        return redirect
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
    request.guest.clear_payment()
    return SeeOther(url(request.guest, "pay"))


def _last_try(request, card_number: str | None) -> str:
    """The notice for a card at eCard's last try (two wrong PINs in a row there), else ""."""
    if card_number and services.last_try_due(kiosk=request.kiosk, card_number=card_number):
        return ordering_services.LAST_TRY
    return ""


def _pin_page(request, order, form, *, status=200, last_try=""):
    payment = request.guest.payment()
    amount = Decimal(payment["amount"]) if payment.get("amount") else selectors.amount_due(order)
    context = {"order": order, "last4": payment["last4"], "amount": money(amount), "form": form}
    context["last_try"] = last_try
    return page(request, "kiosk/pay_pin.html", context, status=status)


@guest_view
@require_GET
def pay_pin(request):
    order, redirect = _order_or_redirect(request)
    if redirect:
        return redirect
    if order.status != OrderStatus.OPEN:
        return SeeOther(_route(request.guest, order))
    if request.guest.payment() is None:
        return SeeOther(url(request.guest, "pay"))
    # The PIN screen says so before eCard's last try; the form then carries the confirmation.
    last_try = _last_try(request, request.guest.payment_card())
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
def pay_submit(request):
    guest = request.guest
    order, redirect = _order_or_redirect(request)
    if redirect:
        return redirect
    payment = guest.payment()
    if payment is None:
        return SeeOther(_route(guest, order))
    form = PinForm(request.POST)
    if not form.is_valid():
        guest.flash(first_error(form), "error")
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
    except (InvalidInput, ordering_services.LastTryError, throttle.ThrottleUnavailableError) as exc:
        # Nothing was sent: back to the PIN screen (which itself shows a last-try notice).
        if not isinstance(exc, ordering_services.LastTryError):
            guest.flash(exc.message, "error")
        return SeeOther(url(guest, "pay_pin"))
    except ordering_services.PinThrottledError as exc:
        guest.clear_payment()
        guest.flash(exc.message, "error")
        return SeeOther(url(guest, "pay"))
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
        guest.flash(outcome.message, "warning")
        return url(guest, "pay")
    if kind == Kind.PARTIAL:
        guest.clear_payment()
        guest.offer.clear()
        guest.flash(outcome.message, "success")
        return url(guest, "pay")
    guest.flash(outcome.message, "error")
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
def confirming(request):
    order, redirect = _order_or_redirect(request)
    if redirect:
        return redirect
    if order.status not in IN_FLIGHT:
        return SeeOther(_settled(request.guest, order))
    context = _confirming_context(order)
    return page(request, "kiosk/confirming.html", context, suspend_idle=not context["attention"])


@guest_view(poll=True)
@require_GET
def status(request):
    """Polled by htmx while a payment is being confirmed; moves the page on once it is known."""
    order, redirect = _order_or_redirect(request)
    if redirect:
        return go(request, redirect.url)
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
def receipt(request):
    order, redirect = _order_or_redirect(request)
    if redirect:
        return redirect
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
        },
    )


@guest_view
@require_POST
def cancel(request):
    guest = request.guest
    order, redirect = _order_or_redirect(request)
    if redirect:
        return redirect
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
def cancelled(request):
    order, redirect = _order_or_redirect(request)
    if redirect:
        return redirect
    if order.status != OrderStatus.CANCELLED:
        return SeeOther(_route(request.guest, order))
    returned = [t for t in selectors.order_tenders(order) if t.released_at and t.amount]
    returned = [t for t in returned if t.status in ("voided", "approved", "unknown")]
    return page(request, "kiosk/cancelled.html", {"order": order, "returned": returned})


# --- Balance ------------------------------------------------------------------------------------


@guest_view
@require_http_methods(["GET", "POST"])
def balance(request):
    guest = request.guest
    if request.method == "GET":
        return page(request, "kiosk/balance.html", {"card_form": CardForm()})
    form = CardForm(request.POST)
    if not form.is_valid():
        return page(request, "kiosk/balance.html", {"card_form": form}, status=400)
    guest.set_balance_card(form.cleaned_data["card_number"])
    return SeeOther(url(guest, "balance_pin"))


@guest_view
@require_http_methods(["GET", "POST"])
def balance_pin(request):
    guest = request.guest
    card = guest.balance_card()
    if card is None:
        return SeeOther(url(guest, "balance"))
    if request.method == "GET":
        last_try = _last_try(request, unseal(card["card"]))
        form = BalancePinForm(initial={"confirm_last_try": "1" if last_try else ""})
        context = {"last4": card["last4"], "form": form, "last_try": last_try}
        return page(request, "kiosk/balance_pin.html", context)
    form = BalancePinForm(request.POST)
    if not form.is_valid():
        return page(
            request,
            "kiosk/balance_pin.html",
            {"last4": card["last4"], "form": form},
            status=400,
        )
    try:
        outcome = services.check_balance(
            kiosk=request.kiosk,
            card_number=unseal(card["card"]),
            pin=form.cleaned_data["pin"],
            ip=client_ip(request),
            confirm_last_try=form.cleaned_data["confirm_last_try"],
        )
    except (InvalidInput, ordering_services.LastTryError, throttle.ThrottleUnavailableError) as exc:
        # Nothing was sent: back to the PIN screen (which itself shows a last-try notice).
        if not isinstance(exc, ordering_services.LastTryError):
            guest.flash(exc.message, "error")
        return SeeOther(url(guest, "balance_pin"))
    except ordering_services.PinThrottledError as exc:
        guest.clear_balance()
        guest.flash(exc.message, "error")
        return SeeOther(url(guest, "balance"))
    if outcome.kind == services.BalanceKind.OK:
        guest.set_balance_result(outcome.card_last4, outcome.balance)
        return SeeOther(url(guest, "balance_result"))
    guest.flash(outcome.message, "error")
    return SeeOther(url(guest, "balance_pin"))


@guest_view
@require_GET
def balance_result(request):
    result = request.guest.balance_result()
    if result is None:
        return SeeOther(url(request.guest, "balance"))
    return page(
        request,
        "kiosk/balance_result.html",
        {"last4": result["last4"], "balance": money(Decimal(result["balance"]))},
    )
