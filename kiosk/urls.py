"""Kiosk pages, under /kiosk/. Guest pages carry the visit's id: /kiosk/g/<guest id>/…"""

from django.urls import path, re_path

from kiosk import views

app_name = "kiosk"

GUEST = r"^g/(?P<guest_id>[A-Za-z0-9_-]{16})/"

guest_pages = [
    ("menu/", views.menu, "menu"),
    ("cart/", views.cart_view, "cart"),
    ("cart/add/", views.cart_add, "cart_add"),
    (r"cart/items/(?P<item_id>[0-9]{1,12})/", views.cart_update, "cart_update"),
    ("checkout/", views.checkout, "checkout"),
    ("pay/", views.pay, "pay"),
    ("pay/card/", views.pay_card, "pay_card"),
    ("pay/use-balance/", views.pay_use_balance, "pay_use_balance"),
    ("pay/change-card/", views.pay_change_card, "pay_change_card"),
    ("pay/pin/", views.pay_pin, "pay_pin"),
    ("pay/submit/", views.pay_submit, "pay_submit"),
    ("confirming/", views.confirming, "confirming"),
    ("status/", views.status, "status"),
    ("receipt/", views.receipt, "receipt"),
    ("cancel/", views.cancel, "cancel"),
    ("cancelled/", views.cancelled, "cancelled"),
    ("balance/", views.balance, "balance"),
    ("balance/pin/", views.balance_pin, "balance_pin"),
    ("balance/result/", views.balance_result, "balance_result"),
    ("touch/", views.touch, "touch"),
    ("end/", views.end, "end"),
]

urlpatterns = [
    path("", views.attract, name="attract"),
    path("start/", views.start, name="start"),
    path("enroll/", views.enroll, name="enroll"),
    re_path(r"^enroll/(?P<code>[0-9]{16})/$", views.enroll_link, name="enroll_link"),
    *(re_path(GUEST + pattern + "$", view, name=name) for pattern, view, name in guest_pages),
]
