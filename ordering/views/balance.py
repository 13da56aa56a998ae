"""The online balance check: a card number and its PIN, answered with the balance.

The check is ordering's (`services.check_balance`, the kiosk's too), throttled like a payment per
card, session and address. Post/redirect/get: the answer (the last four digits and the balance,
nothing else) is kept in the session for a few minutes and shown by a GET, so a reload asks
eCard nothing and the back button never sends the PIN again. A wrong PIN or card number comes
back on the form with the number filled in (kept sealed, like the offer's) and the PIN empty.
"""

import time
from decimal import Decimal

from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext, gettext_noop
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from ecard_integration.errors import InvalidInput
from ecard_integration.models import Source
from ordering import services
from ordering.forms import BalanceForm
from ordering.offers import KeptCard
from ordering.pins import throttle
from ordering.pins.attempt import Guest
from ordering.selectors import money
from ordering.views.common import (
    KEPT_CARD_SESSION_KEY,
    client_ip,
    see_other,
    session_key,
    show_error,
)

RESULT_SESSION_KEY = "ordering_balance"
RESULT_SECONDS = 5 * 60  # long enough to read it again, short enough not to linger
PURPOSE = "balance"
LAST_TRY = gettext_noop(
    "This card has had two wrong PINs in a row. If this PIN is wrong too, the card will be "
    "locked and only the card's issuer can unlock it. Check the PIN, enter it again and press "
    "Check balance to try once more."
)


def _kept(request) -> KeptCard:
    return KeptCard(request.session, KEPT_CARD_SESSION_KEY)


def _render(request, form, *, status=200):
    return render(request, "ordering/balance.html", {"form": form}, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def balance(request):
    if request.method == "GET":
        card_number, error = _kept(request).take(PURPOSE)
        form = BalanceForm(initial={"kept_card": bool(card_number)})
        form.kept_last4 = card_number[-4:]  # the page shows only these; the number stays here
        if error:
            show_error(form, error)
        return _render(request, form)
    if request.POST.get("different_card"):
        _kept(request).clear()
        return see_other(reverse("ordering:balance"))
    form = BalanceForm(request.POST)
    valid = form.is_valid()
    card_number = form.cleaned_data.get("card_number", "")
    if form.cleaned_data.get("kept_card"):
        card_number, _error = _kept(request).take(PURPOSE)
        if not card_number:  # expired or cleared meanwhile: nothing was sent
            return see_other(reverse("ordering:balance"))
        form.kept_last4 = card_number[-4:]
    if not valid:
        form.keep_typed_card(_kept(request), PURPOSE)
        return _render(request, form, status=400)
    return _check(request, form, card_number)


def _check(request, form, card_number):
    data = {**form.cleaned_data, "card_number": card_number}
    store = services.online_store()
    try:
        outcome = services.check_balance(
            guest=Guest.online(session_key=session_key(request), ip=client_ip(request)),
            card_number=data["card_number"],
            pin=data["pin"],
            source=Source.ONLINE,
            store_id=store.ecard_store_id,
            terminal_id=store.online_terminal_id,
            reference="online-balance",
            confirm_last_try=data["confirm_last_try"],
        )
    except services.LastTryError:
        # eCard's last try for this card: the guest reads why, types the PIN again and confirms.
        form.data = form.data.copy()
        form.data["confirm_last_try"] = "1"
        form.add_error(None, gettext(LAST_TRY))
        return _render(request, form, status=409)
    except (InvalidInput, services.OrderingError, throttle.ThrottleUnavailableError) as exc:
        # Nothing was sent: the form again (the card number filled, never the PIN).
        field = getattr(exc, "field", None)
        form.add_error(field if field in form.fields else None, exc.message)
        status = 429 if isinstance(exc, services.PinThrottledError) else 400
        if isinstance(exc, throttle.ThrottleUnavailableError):
            status = 503
        return _render(request, form, status=status)
    if outcome.kind == services.BalanceKind.OK:
        _kept(request).clear()
        request.session[RESULT_SESSION_KEY] = {
            "last4": outcome.card_last4,
            "balance": str(outcome.balance),
            "expires": time.time() + RESULT_SECONDS,
        }
        return see_other(reverse("ordering:balance_result"))
    # Sent and answered (or not): say why on the form's next GET, the number kept to try again.
    keep = outcome.may_retry or outcome.kind == services.BalanceKind.UNAVAILABLE
    _kept(request).keep(PURPOSE, data["card_number"] if keep else None, outcome.message)
    return see_other(reverse("ordering:balance"))


@never_cache
@require_GET
def balance_result(request):
    result = request.session.get(RESULT_SESSION_KEY)
    if not isinstance(result, dict) or time.time() > result.get("expires", 0):
        request.session.pop(RESULT_SESSION_KEY, None)
        return see_other(reverse("ordering:balance"))
    context = {"last4": result["last4"], "balance": money(Decimal(result["balance"]))}
    return render(request, "ordering/balance_result.html", context)
