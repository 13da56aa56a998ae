"""Kiosk guest pages: checking a card's balance with its PIN."""

import logging
from decimal import Decimal

from django.views.decorators.http import require_GET, require_http_methods

from config.http import SeeOther
from config.security import client_ip
from kiosk import services
from kiosk.forms import BalancePinForm, CardForm
from kiosk.guest import unseal
from kiosk.views.common import PIN_REFUSALS, guest_view, page, pin_refused, url
from kiosk.views.payment import last_try_notice
from ordering.selectors import money

logger = logging.getLogger(__name__)


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
        last_try = last_try_notice(request, unseal(card["card"]))
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
    except PIN_REFUSALS as exc:
        return pin_refused(
            guest, exc, again="balance_pin", back="balance", forget=guest.clear_balance
        )
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
