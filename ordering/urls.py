"""Guest pages of online ordering, included at the site root."""

from django.urls import path, re_path

from ordering.views import balance, orders, shop

app_name = "ordering"

ORDER = r"^orders/(?P<number>[A-Z0-9]{4,12})/(?P<token>[A-Za-z0-9_-]{16,64})/"

urlpatterns = [
    path("", shop.menu, name="menu"),
    path("cart/", shop.cart_view, name="cart"),
    path("cart/add/", shop.cart_add, name="cart_add"),
    re_path(r"^cart/items/(?P<item_id>[0-9]{1,12})/$", shop.cart_update, name="cart_update"),
    re_path(r"^cart/items/(?P<item_id>[0-9]{1,12})/remove/$", shop.cart_remove, name="cart_remove"),
    path("checkout/", shop.checkout, name="checkout"),
    path("balance/", balance.balance, name="balance"),
    path("balance/result/", balance.balance_result, name="balance_result"),
    re_path(ORDER + r"$", orders.order, name="order"),
    re_path(ORDER + r"pay/$", orders.order_pay, name="order_pay"),
    re_path(ORDER + r"apply-balance/$", orders.order_apply_balance, name="order_apply_balance"),
    re_path(
        ORDER + r"tenders/(?P<tender_id>[0-9]{1,12})/remove/$",
        orders.order_remove_tender,
        name="order_remove_tender",
    ),
    re_path(ORDER + r"cancel/$", orders.order_cancel, name="order_cancel"),
    re_path(ORDER + r"status/$", orders.order_status, name="order_status"),
]
