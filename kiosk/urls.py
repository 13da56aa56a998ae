"""Kiosk pages, under /kiosk/. Guest pages carry the visit's id: /kiosk/g/<guest id>/…"""

from django.urls import path, re_path

from kiosk.views import balance, device, payment, visit

app_name = "kiosk"

GUEST = r"^g/(?P<guest_id>[A-Za-z0-9_-]{16})/"

guest_pages = [
    ("menu/", visit.menu, "menu"),
    ("cart/", visit.cart_view, "cart"),
    ("cart/add/", visit.cart_add, "cart_add"),
    (r"cart/items/(?P<item_id>[0-9]{1,12})/", visit.cart_update, "cart_update"),
    ("checkout/", visit.checkout, "checkout"),
    ("pay/", payment.pay, "pay"),
    ("pay/card/", payment.pay_card, "pay_card"),
    ("pay/use-balance/", payment.pay_use_balance, "pay_use_balance"),
    ("pay/change-card/", payment.pay_change_card, "pay_change_card"),
    ("pay/pin/", payment.pay_pin, "pay_pin"),
    ("pay/submit/", payment.pay_submit, "pay_submit"),
    ("confirming/", payment.confirming, "confirming"),
    ("status/", payment.status, "status"),
    ("receipt/", payment.receipt, "receipt"),
    ("cancel/", payment.cancel, "cancel"),
    ("cancelled/", payment.cancelled, "cancelled"),
    ("balance/", balance.balance, "balance"),
    ("balance/pin/", balance.balance_pin, "balance_pin"),
    ("balance/result/", balance.balance_result, "balance_result"),
    ("touch/", device.touch, "touch"),
    ("accessibility/", device.accessibility, "accessibility"),
    ("language/", device.language, "language"),
    ("end/", device.end, "end"),
]

urlpatterns = [
    path("", device.attract, name="attract"),
    path("start/", device.start, name="start"),
    path("enroll/", device.enroll, name="enroll"),
    re_path(r"^enroll/(?P<code>[0-9]{16})/$", device.enroll_link, name="enroll_link"),
    *(re_path(GUEST + pattern + "$", view, name=name) for pattern, view, name in guest_pages),
]
