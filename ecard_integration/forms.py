"""Staff forms for the eCard admin: void, load a card, balance lookup, an evidence export.

The forms only collect input. Card numbers and amounts are validated by the services (through
`wire.parse_*`), whose `InvalidInput` errors the views attach to the field they name.
"""

import re
import secrets

from django import forms
from django.utils.translation import gettext_noop

from ecard_integration import wire
from ecard_integration.errors import InvalidInput
from ecard_integration.models import Kind
from ecard_integration.services import ATTEMPT_KEY_RE

REASON_MAX_LENGTH = 500
# What people type between groups of a card's digits (as printed on the card): spaces (a phone's
# no-break and thin ones too) and dashes (a phone's typographic ones too). Nothing else.
CARD_SEPARATORS = re.compile(r"[ \u00a0\u2009\u202f\-\u2010-\u2014]+")
TYPED_CARD_NUMBER_FORMAT = gettext_noop(
    "Enter the card number as 12 to 19 digits. Spaces and dashes between them are fine."
)
# Control characters other than newline and tab have no place in a stored reason.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def normalise_text(value: str) -> str:
    """CRLF and lone CR become LF, other control characters go, outer whitespace is trimmed."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return CONTROL_CHARACTERS.sub("", value).strip()


def normalise_card_number(value: object) -> object:
    """A card number as a person typed it, spaces and dashes dropped; everything else is kept
    as it is, for `wire.parse_card_number` to accept or refuse. The one normaliser of every
    form where a card number is typed (online, kiosk, staff)."""
    return CARD_SEPARATORS.sub("", value) if isinstance(value, str) else value


def parse_typed_card_number(value: object) -> str:
    """A typed card number, normalised and checked (`InvalidInput` with a sentence that does
    not tell the guest to leave out the spaces they may type)."""
    number = normalise_card_number(value)
    if isinstance(number, str) and number and not wire.CARD_NUMBER_RE.fullmatch(number):
        raise InvalidInput(TYPED_CARD_NUMBER_FORMAT, field="card_number")
    return wire.parse_card_number(number)


class CardNumberInput(forms.TextInput):
    """A card number input that never renders its value back (staff, online and kiosk): a
    number sent back with an error is typed or scanned again, or kept sealed on the server
    (`ordering.offers.KeptCard`), and never lands in a page's HTML."""

    def format_value(self, value):
        return None


class CardNumberField(forms.CharField):
    """A card number as staff type it, spaces and dashes dropped (the services parse the
    rest): never rendered back, never autocompleted or spellchecked."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 40)
        kwargs.setdefault(
            "widget",
            CardNumberInput(
                attrs={"autocomplete": "off", "inputmode": "numeric", "spellcheck": "false"}
            ),
        )
        super().__init__(**kwargs)

    def to_python(self, value):
        return normalise_card_number(super().to_python(value))


def new_attempt_key() -> str:
    """A fresh one-time key for a staff form (32 URL-safe characters)."""
    return secrets.token_urlsafe(24)


class AttemptKeyForm(forms.Form):
    """A form that sends to eCard, with a one-time key rendered into it when it is opened.

    The key goes to the service, which stores it on the transaction before anything is sent: the
    same form sent twice (refresh, double click, back and resubmit, two tabs) finds the first
    transaction instead of making a second.
    """

    EXPIRED = "This form is out of date. Nothing was sent: check the details and send it again."

    attempt_key = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, data=None, **kwargs):
        if data is None:
            kwargs.setdefault("initial", {}).setdefault("attempt_key", new_attempt_key())
        super().__init__(data, **kwargs)

    def clean(self):
        cleaned = super().clean()
        if not ATTEMPT_KEY_RE.fullmatch(cleaned.get("attempt_key") or ""):
            # A missing key would make a send that a refresh repeats: refuse it, and render a
            # fresh key for the next send.
            self.add_error(None, self.EXPIRED)
            self.renew_attempt_key()
        return cleaned

    def renew_attempt_key(self) -> None:
        """Render a fresh key: the next send of this form is a new request."""
        self.data = self.data.copy()
        self.data["attempt_key"] = new_attempt_key()


class ReasonField(forms.CharField):
    def to_python(self, value):
        value = super().to_python(value)
        return normalise_text(value) if value else value


class VoidForm(AttemptKeyForm):
    reason = ReasonField(
        label="Reason",
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Required: why this transaction is being reversed. Kept with the void.",
    )


class LoadCardForm(AttemptKeyForm):
    card_number = CardNumberField(
        label="Card number", help_text="12 to 19 digits; spaces and dashes are fine."
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


class BalanceLookupForm(AttemptKeyForm):
    card_number = CardNumberField(
        label="Card number", help_text="12 to 19 digits; spaces and dashes are fine."
    )


class FindCardForm(forms.Form):
    """Find a card's transactions by its full number: sent by POST, so the number is in no URL."""

    card_number = CardNumberField(label="Find a card by its full number")


class DateInput(forms.DateInput):
    input_type = "date"  # the browser's date picker; the value is ISO (YYYY-MM-DD)


class EvidenceExportForm(forms.Form):
    """A range of the ledger to export: the venue's days, both included (`exports.check_range`
    validates it in the service)."""

    date_from = forms.DateField(label="First day", widget=DateInput)
    date_to = forms.DateField(label="Last day", widget=DateInput)
    kinds = forms.MultipleChoiceField(
        label="Kinds",
        choices=Kind.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every kind.",
    )
    store_id = forms.CharField(
        label="eCard store id", max_length=32, required=False, help_text="Blank: every store."
    )
