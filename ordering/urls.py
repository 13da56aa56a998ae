"""Guest pages of online ordering, included at the site root."""

from django.urls import path, re_path

from ordering import views

app_name = "ordering"

ORDER = r"^orders/(?P<number>[A-Z0-9]{4,12})/(?P<token>[A-Za-z0-9_-]{16,64})/"

urlpatterns = [
    path("", views.menu, name="menu"),
    path("cart/", views.cart_view, name="cart"),
    path("cart/add/", views.cart_add, name="cart_add"),
    re_path(r"^cart/items/(?P<item_id>[0-9]{1,12})/$", views.cart_update, name="cart_update"),
    re_path(
        r"^cart/items/(?P<item_id>[0-9]{1,12})/remove/$", views.cart_remove, name="cart_remove"
    ),
    path("checkout/", views.checkout, name="checkout"),
    re_path(ORDER + r"$", views.order, name="order"),
    re_path(ORDER + r"pay/$", views.order_pay, name="order_pay"),
    re_path(ORDER + r"apply-balance/$", views.order_apply_balance, name="order_apply_balance"),
    re_path(
        ORDER + r"tenders/(?P<tender_id>[0-9]{1,12})/remove/$",
        views.order_remove_tender,
        name="order_remove_tender",
    ),
    re_path(ORDER + r"cancel/$", views.order_cancel, name="order_cancel"),
    re_path(ORDER + r"status/$", views.order_status, name="order_status"),
]
