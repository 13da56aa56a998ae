"""Staff forms for the eCard admin: void, load a card, balance lookup.

The forms only collect input. Card numbers and amounts are validated by the services (through
`wire.parse_*`), whose `InvalidInput` errors the views attach to the field they name.
"""

import re

from django import forms

REASON_MAX_LENGTH = 500
# Control characters other than newline and tab have no place in a stored reason.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def normalise_text(value: str) -> str:
    """CRLF and lone CR become LF, other control characters go, outer whitespace is trimmed."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return CONTROL_CHARACTERS.sub("", value).strip()


class CardNumberInput(forms.TextInput):
    """A card number field that never renders the number back into the page."""

    def format_value(self, value):
        return None


class ReasonField(forms.CharField):
    def to_python(self, value):
        value = super().to_python(value)
        return normalise_text(value) if value else value


class VoidForm(forms.Form):
    reason = ReasonField(
        label="Reason",
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Required: why this transaction is being reversed. Kept with the void.",
    )


class LoadCardForm(forms.Form):
    card_number = forms.CharField(
        label="Card number",
        max_length=40,
        widget=CardNumberInput(
            attrs={"autocomplete": "off", "inputmode": "numeric", "spellcheck": "false"}
        ),
        help_text="12 to 19 digits, no spaces.",
    )
    amount = forms.CharField(
        label="Amount",
        max_length=12,
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "decimal"}),
        help_text="For example 25.00 (0.01 to 99999.99).",
    )
    note = ReasonField(
        label="Note",
        required=False,
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Optional: why the card is loaded (kept with the transaction).",
    )


class BalanceLookupForm(forms.Form):
    card_number = forms.CharField(
        label="Card number",
        max_length=40,
        widget=CardNumberInput(
            attrs={"autocomplete": "off", "inputmode": "numeric", "spellcheck": "false"}
        ),
        help_text="12 to 19 digits, no spaces.",
    )
