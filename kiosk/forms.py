"""Kiosk forms: what guests (and staff, at enrollment) type on the touch screen.

Card numbers and PINs are validated by `ecard_integration.wire` through the ordering fields and the
kiosk's card-entry parser (keypad, barcode or magnetic-stripe reader). PINs are never rendered back.
The inputs use `inputmode="none"`: the on-screen keypad is the keyboard.
"""

import re
from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy

from ecard_integration.errors import InvalidInput
from ecard_integration.forms import CardNumberInput
from kiosk import services
from ordering.forms import AttemptKeyField, LastTryField, PinField

TOTAL_RE = re.compile(r"[0-9]{1,7}\.[0-9]{2}")
CART_CHANGED = gettext_lazy("Your cart changed. Please check it and try again.")


def _keypad_input(**attrs) -> dict:
    return {
        "autocomplete": "off",
        "inputmode": "none",
        "spellcheck": "false",
        "autocapitalize": "off",
        **attrs,
    }


class EnrollForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Enrollment code"),
        max_length=64,
        error_messages={
            "required": gettext_lazy("Enter the enrollment code from the staff admin.")
        },
        widget=forms.TextInput(attrs=_keypad_input(**{"data-primary-input": "", "class": "entry"})),
    )


class CardForm(forms.Form):
    card_number = forms.CharField(
        label=gettext_lazy("Gift card number"),
        max_length=200,  # a magnetic-stripe reader types whole tracks
        strip=True,
        error_messages={
            "required": gettext_lazy("Enter the card number, or scan or swipe the card.")
        },
        widget=CardNumberInput(
            attrs=_keypad_input(
                **{"data-primary-input": "", "class": "entry", "data-max-digits": "19"}
            )
        ),
    )

    def clean_card_number(self):
        try:
            return services.parse_card_entry(self.cleaned_data["card_number"])
        except InvalidInput as exc:
            raise forms.ValidationError(exc.message) from None


def _kiosk_pin_field() -> PinField:
    return PinField(
        widget=forms.PasswordInput(
            render_value=False,
            attrs=_keypad_input(
                **{"data-primary-input": "", "class": "entry pin", "data-max-digits": "8"}
            ),
        )
    )


class PinForm(forms.Form):
    """The PIN for a payment; the card number is in the (server-side) session."""

    pin = _kiosk_pin_field()
    attempt_key = AttemptKeyField()
    confirm_last_try = LastTryField()


class BalancePinForm(forms.Form):
    pin = _kiosk_pin_field()
    confirm_last_try = LastTryField()


class CheckoutForm(forms.Form):
    """Only the total the guest saw: the order is made at the catalog's prices, if they match."""

    expected_total = forms.CharField(
        max_length=12,
        widget=forms.HiddenInput,
        error_messages={"required": CART_CHANGED, "max_length": CART_CHANGED},
    )

    def clean_expected_total(self):
        value = self.cleaned_data["expected_total"]
        if not TOTAL_RE.fullmatch(value):
            raise forms.ValidationError(CART_CHANGED)
        return Decimal(value)


class QuantityForm(forms.Form):
    """A cart line's new quantity from the − / + buttons: 0 removes the line."""

    quantity = forms.IntegerField(min_value=0, max_value=99)
