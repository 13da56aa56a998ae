"""Forms: validate what guests type, with one plain sentence per problem.

Card numbers, PINs and amounts are validated by `ecard_integration.wire` (the rules eCard
applies), so a value this form accepts is a value eCard accepts. PINs are never rendered back.
"""

import re
import uuid
from decimal import Decimal

from django import forms
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy

from ecard_integration import wire
from ecard_integration.errors import InvalidInput
from ecard_integration.forms import (
    TYPED_CARD_NUMBER_FORMAT,
    CardNumberInput,
    parse_typed_card_number,
)
from ordering.models import MAX_LINE_QUANTITY

QUANTITY_RE = re.compile(r"[0-9]{1,3}")
ITEM_ID_RE = re.compile(r"[0-9]{1,12}")
TOTAL_RE = re.compile(r"[0-9]{1,7}\.[0-9]{2}")
CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
QUANTITY_MESSAGE = format_lazy(
    gettext_lazy("Choose a quantity from 1 to {max}."), max=MAX_LINE_QUANTITY
)


def new_attempt_key() -> str:
    return uuid.uuid4().hex


class QuantityField(forms.CharField):
    """A whole number from 1 to the line maximum, in ASCII digits only."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 10)
        kwargs.setdefault(
            "widget",
            forms.NumberInput(attrs={"min": 1, "max": MAX_LINE_QUANTITY, "inputmode": "numeric"}),
        )
        kwargs.setdefault(
            "error_messages", {"required": QUANTITY_MESSAGE, "max_length": QUANTITY_MESSAGE}
        )
        super().__init__(**kwargs)

    def clean(self, value):
        value = super().clean(value)
        if not QUANTITY_RE.fullmatch(value) or not 1 <= int(value) <= MAX_LINE_QUANTITY:
            raise forms.ValidationError(QUANTITY_MESSAGE)
        return int(value)


class ItemIdField(forms.CharField):
    def clean(self, value):
        value = super().clean(value)
        if not ITEM_ID_RE.fullmatch(value):
            raise forms.ValidationError(gettext_lazy("That item is not on the menu."))
        return int(value)


class AddToCartForm(forms.Form):
    item = ItemIdField(
        max_length=12,
        error_messages={
            "required": gettext_lazy("Choose an item."),
            "max_length": gettext_lazy("That item is not on the menu."),
        },
    )
    quantity = QuantityField(initial=1)


class CartQuantityForm(forms.Form):
    quantity = QuantityField()


class CheckoutForm(forms.Form):
    guest_name = forms.CharField(
        label=gettext_lazy("Your name"),
        max_length=80,
        error_messages={
            "required": gettext_lazy("Enter your name, so we can call you when it is ready.")
        },
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    guest_email = forms.EmailField(
        label=gettext_lazy("Email for your receipt (optional)"),
        required=False,
        max_length=254,
        error_messages={"invalid": gettext_lazy("Enter an email address like name@example.com.")},
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    expected_total = forms.CharField(
        max_length=12,
        widget=forms.HiddenInput,
        error_messages={
            "required": gettext_lazy("Your cart changed. Please check it and try again."),
            "max_length": gettext_lazy("Your cart changed. Please check it and try again."),
        },
    )

    def clean_guest_name(self):
        name = self.cleaned_data["guest_name"].strip()
        if CONTROL_CHARS.search(name) or not name:
            raise forms.ValidationError(
                gettext_lazy("Enter your name using letters, digits and spaces.")
            )
        return name

    def clean_expected_total(self):
        value = self.cleaned_data["expected_total"]
        if not TOTAL_RE.fullmatch(value):
            raise forms.ValidationError(
                gettext_lazy("Your cart changed. Please check it and try again.")
            )
        return Decimal(value)


def _wire(parse, value):
    try:
        return parse(value)
    except InvalidInput as exc:
        raise forms.ValidationError(exc.message) from None


class PinField(forms.CharField):
    """A PIN: never autocompleted, never rendered back, never stripped."""

    def __init__(self, **kwargs):
        kwargs.setdefault("label", gettext_lazy("PIN"))
        kwargs.setdefault("max_length", 16)
        kwargs.setdefault("strip", False)
        kwargs.setdefault(
            "error_messages",
            {
                "required": gettext_lazy("Enter the card's PIN."),
                "max_length": gettext_lazy("Enter the PIN as 4 to 8 digits."),
            },
        )
        kwargs.setdefault(
            "widget",
            forms.PasswordInput(
                render_value=False,
                attrs={
                    "autocomplete": "off",
                    "inputmode": "numeric",
                    "class": "pin",
                },
            ),
        )
        super().__init__(**kwargs)

    def clean(self, value):
        return _wire(wire.parse_pin, super().clean(value))


class AttemptKeyField(forms.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("widget", forms.HiddenInput)
        kwargs.setdefault("max_length", 64)
        expired = gettext_lazy("This form has expired. Please try again.")
        kwargs.setdefault("error_messages", {"required": expired, "max_length": expired})
        super().__init__(**kwargs)

    def clean(self, value):
        from ordering.services import parse_attempt_key

        return _wire(parse_attempt_key, super().clean(value))


class LastTryField(forms.CharField):
    """Set ("1") once the guest was told this PIN is eCard's last try for the card."""

    def __init__(self, **kwargs):
        kwargs.setdefault("widget", forms.HiddenInput)
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 1)
        super().__init__(**kwargs)

    def clean(self, value):
        return super().clean(value) == "1"


class CardNumberField(forms.CharField):
    """A gift card number as a guest types it: spaces and dashes are fine (dropped by the shared
    normaliser), anything else is refused with one sentence. `data-card-number` lets site.js
    group the digits in fours as they are typed."""

    def __init__(self, **kwargs):
        kwargs.setdefault("label", gettext_lazy("Gift card number"))
        kwargs.setdefault("max_length", 40)
        kwargs.setdefault(
            "error_messages",
            {
                "required": gettext_lazy("Enter the card number."),
                "max_length": gettext_lazy(TYPED_CARD_NUMBER_FORMAT),
            },
        )
        kwargs.setdefault(
            "widget",
            CardNumberInput(
                attrs={
                    "autocomplete": "off",
                    "inputmode": "numeric",
                    "spellcheck": "false",
                    "data-card-number": "",
                }
            ),
        )
        super().__init__(**kwargs)

    def clean(self, value):
        value = super().clean(value)
        return _wire(parse_typed_card_number, value) if value or self.required else ""


class KeptCardForm(forms.Form):
    """A form whose card number may be the one kept after a wrong PIN (`offers.KeptCard`): the
    page then shows only its last four digits, and the number never goes back to the browser."""

    card_number = CardNumberField(required=False)
    kept_card = forms.BooleanField(required=False, widget=forms.HiddenInput)
    kept_last4 = ""

    def keep_typed_card(self, kept, purpose: str) -> None:
        """Sent back for another field's error: a valid number just typed is kept sealed on the
        server (`kept`), the form then shows its last four and asks only for the rest. (The
        input never renders a number back, so an invalid one is typed again.)"""
        number = "" if "card_number" in self.errors else self.cleaned_data.get("card_number")
        if not number or self.cleaned_data.get("kept_card"):
            return
        kept.keep(purpose, number, "")
        self.data = self.data.copy()
        self.data["kept_card"] = "True"
        self.kept_last4 = number[-4:]

    def clean(self):
        data = super().clean()
        if (
            not data.get("kept_card")
            and not data.get("card_number")
            and "card_number" not in self.errors
        ):
            self.add_error("card_number", gettext_lazy("Enter the card number."))
        return data


class PayForm(KeptCardForm):
    pin = PinField()
    amount = forms.CharField(
        label=gettext_lazy("Amount to pay with this card (optional)"),
        required=False,
        max_length=20,
        help_text=gettext_lazy("Leave empty to pay everything still due."),
        error_messages={"max_length": gettext_lazy("Enter an amount between 0.01 and 99999.99.")},
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    attempt_key = AttemptKeyField()
    confirm_last_try = LastTryField()

    def clean_amount(self):
        value = self.cleaned_data["amount"].strip().lstrip("$").strip()
        return _wire(wire.parse_amount, value) if value else None


class ApplyBalanceForm(forms.Form):
    """Use a card's available balance after a declined redeem: the PIN is asked again."""

    offer = forms.CharField(max_length=64, widget=forms.HiddenInput)
    pin = PinField()
    attempt_key = AttemptKeyField()
    confirm_last_try = LastTryField()


class BalanceForm(KeptCardForm):
    """The online balance check: the card number and its PIN (never rendered back)."""

    pin = PinField()
    confirm_last_try = LastTryField()


def first_error(form) -> str:
    """The first error of a form, as one sentence for the guest."""
    for errors in form.errors.values():
        if errors:
            return errors[0]
    return str(gettext_lazy("Please check what you entered."))
