"""Kiosk guest pages: the menu, the cart and checkout."""

import logging

from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_POST

from config.http import SeeOther
from kiosk import services
from kiosk.forms import CheckoutForm, QuantityForm
from kiosk.views.common import guest_view, page, url
from ordering import selectors
from ordering import services as ordering_services
from ordering.cart import Cart, CartFullError
from ordering.forms import AddToCartForm, first_error
from ordering.models import ACTIVE_STATUSES

logger = logging.getLogger(__name__)


# --- Menu and cart ------------------------------------------------------------------------------


@guest_view
@require_GET
def menu(request):
    cart = Cart(request.session)
    context = {"categories": selectors.menu_categories(), "lines": cart.lines()}
    return page(request, "kiosk/menu.html", {**context, "total": cart.total()})


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
        guest.flash(gettext("That item is not on the menu."), "error")
        return SeeOther(url(guest, "menu"))
    try:
        quantity = Cart(request.session).add(item, form.cleaned_data["quantity"])
    except CartFullError:
        guest.flash(gettext("Your cart is full. Pay for it, or remove an item first."), "error")
    else:
        guest.flash(
            gettext("Added %(item)s (now %(quantity)s in your cart).")
            % {"item": item.name, "quantity": quantity},
            "success",
        )
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
        guest.flash(gettext("Choose a quantity from 1 to 20."), "error")
    elif form.cleaned_data["quantity"] == 0:
        cart.remove(int(item_id))
        guest.flash(gettext("Item removed from your cart."), "success")
    elif form.cleaned_data["quantity"] > 20 or not cart.set_quantity(
        int(item_id), form.cleaned_data["quantity"]
    ):
        guest.flash(gettext("Choose a quantity from 1 to 20."), "error")
    # The steppers are on the menu's order panel too: back to the page they were pressed on.
    return SeeOther(url(guest, "menu" if request.POST.get("back") == "menu" else "cart"))


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
