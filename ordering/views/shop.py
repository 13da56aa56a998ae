"""Online ordering pages: the menu, the cart and checkout."""

import logging

from django.contrib import messages
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from ordering import selectors, services
from ordering.cart import Cart, CartFullError
from ordering.forms import (
    AddToCartForm,
    CartQuantityForm,
    CheckoutForm,
    first_error,
)
from ordering.models import ACTIVE_STATUSES, MAX_LINE_QUANTITY, Order
from ordering.views.common import ORDER_SESSION_KEY, see_other
from ordering.views.orders import order_url

logger = logging.getLogger(__name__)


# --- Menu and cart ------------------------------------------------------------------------------


def _current_order(request) -> Order | None:
    """The guest's checkout still in progress in this session, if any."""
    saved = request.session.get(ORDER_SESSION_KEY)
    if not isinstance(saved, dict):
        return None
    order = selectors.order_for_guest(saved.get("number", ""), saved.get("token", ""))
    return order if order and order.status in ACTIVE_STATUSES else None


@never_cache
@require_GET
def menu(request):
    return render(
        request,
        "ordering/menu.html",
        {"categories": selectors.menu_categories(), "cart": Cart(request.session)},
    )


@never_cache
@require_POST
def cart_add(request):
    form = AddToCartForm(request.POST)
    cart = Cart(request.session)
    error = ""
    notice = ""
    if not form.is_valid():
        error = first_error(form)
    else:
        item = selectors.items_by_id([form.cleaned_data["item"]]).get(form.cleaned_data["item"])
        if item is None:
            error = gettext("That item is not on the menu.")
        else:
            try:
                quantity = cart.add(item, form.cleaned_data["quantity"])
            except CartFullError:
                error = gettext("Your cart is full. Check out, or remove an item first.")
            else:
                notice = gettext("Added to your cart: %(item)s (now %(quantity)s).") % {
                    "item": item.name,
                    "quantity": quantity,
                }
    if request.htmx:
        return render(
            request,
            "ordering/_cart_status.html",
            {"cart": cart, "notice": notice, "error": error},
        )
    if error:
        messages.error(request, error)
        return render(
            request,
            "ordering/menu.html",
            {"categories": selectors.menu_categories(), "cart": cart},
            status=400,
        )
    messages.success(request, notice)
    return see_other(reverse("ordering:menu"))


def _render_cart(request, *, checkout_form=None, problems=(), status=200):
    cart = Cart(request.session)
    lines = cart.lines()
    total = cart.total()
    if checkout_form is None:
        checkout_form = CheckoutForm(initial={"expected_total": f"{total:.2f}"})
    else:
        # The total the guest sees now is what they confirm next.
        checkout_form.data = checkout_form.data.copy()
        checkout_form.data["expected_total"] = f"{total:.2f}"
    return render(
        request,
        "ordering/cart.html",
        {
            "cart": cart,
            "lines": lines,
            "total": total,
            "orderable": any(line.item for line in lines),
            "checkout_form": checkout_form,
            "problems": problems,
            "current_order": _current_order(request),
            "max_quantity": MAX_LINE_QUANTITY,
        },
        status=status,
    )


@never_cache
@require_GET
def cart_view(request):
    return _render_cart(request)


@never_cache
@require_POST
def cart_update(request, item_id):
    form = CartQuantityForm(request.POST)
    cart = Cart(request.session)
    if not form.is_valid():
        messages.error(request, first_error(form))
        return _render_cart(request, status=400)
    changed = cart.set_quantity(int(item_id), form.cleaned_data["quantity"])
    return _cart_changed(request, changed, gettext("Quantity updated."))


@never_cache
@require_POST
def cart_remove(request, item_id):
    changed = Cart(request.session).remove(int(item_id))
    return _cart_changed(request, changed, gettext("Item removed from your cart."))


def _cart_changed(request, changed: bool, notice: str):
    if not changed:
        messages.error(request, gettext("That item is not in your cart."))
        return _render_cart(request, status=400)
    messages.success(request, notice)
    return see_other(reverse("ordering:cart"))


@never_cache
@require_POST
def checkout(request):
    form = CheckoutForm(request.POST)
    cart = Cart(request.session)
    if not form.is_valid():
        return _render_cart(request, checkout_form=form, status=400)
    try:
        order = services.start_checkout(
            entries=cart.entries(),
            expected_total=form.cleaned_data["expected_total"],
            guest_name=form.cleaned_data["guest_name"],
            guest_email=form.cleaned_data["guest_email"],
            language=request.LANGUAGE_CODE,  # the page's: the receipt email is written in it
        )
    except services.CartChangedError as exc:
        cart.accept_catalog()
        return _render_cart(request, checkout_form=form, problems=exc.problems, status=409)
    except services.OrderingError as exc:
        return _render_cart(request, checkout_form=form, problems=[exc.message], status=400)
    cart.clear()
    request.session[ORDER_SESSION_KEY] = {"number": order.number, "token": order.access_token}
    return see_other(order_url(order))
