"""Forgiving card-number input (issue 15): one normaliser drops the spaces and dashes a person
types, in every form where a card number is typed (online, kiosk, staff); anything else is still
refused with one sentence, and the services themselves stay strict."""

import re

import pytest
from django.urls import reverse

from ecard_integration import crypto, services
from ecard_integration.errors import InvalidInput
from ecard_integration.forms import (
    TYPED_CARD_NUMBER_FORMAT,
    BalanceLookupForm,
    normalise_card_number,
    parse_typed_card_number,
)
from ecard_integration.models import EcardTransaction, Kind, Source
from kiosk import services as kiosk_services
from kiosk.forms import CardForm
from ordering.forms import BalanceForm, PayForm

CARD = "6006491000000001"
TYPED = [
    "6006491000000001",
    "6006 4910 0000 0001",
    "6006-4910-0000-0001",
    " 6006 4910-0000 0001 ",
    "6006\u00a04910\u20130000\u20140001",  # a phone's no-break space and typographic dashes
]
REFUSED = [
    "6006 4910 0000 000",  # 15 digits is a card number; 11 is not
    "6006 4910 / 0000 0001",
    "6006.4910.0000.0001",
    "6006_4910_0000_0001",
    "+6006491000000001",
    "６００６４９１０００００００００１",  # full-width digits
    "6006 49x1 0000 0001",
    "6006\t4910\n0000 0001",
]


@pytest.mark.parametrize("typed", TYPED)
def test_spaces_and_dashes_are_dropped(typed):
    assert parse_typed_card_number(typed) == CARD


def test_the_normaliser_touches_nothing_else():
    assert normalise_card_number("60 06-49x1") == "600649x1"
    assert normalise_card_number(None) is None


@pytest.mark.parametrize("typed", REFUSED[1:])
def test_anything_else_is_refused_with_one_sentence(typed):
    with pytest.raises(InvalidInput) as refused:
        parse_typed_card_number(typed)
    assert refused.value.field == "card_number"
    assert refused.value.message == TYPED_CARD_NUMBER_FORMAT


def test_a_short_number_is_still_a_number_and_an_empty_one_is_asked_for():
    assert parse_typed_card_number(REFUSED[0]) == "600649100000000"
    with pytest.raises(InvalidInput) as refused:
        parse_typed_card_number("  ")
    assert refused.value.message == "Enter the card number."


def test_the_services_stay_strict():
    with pytest.raises(InvalidInput):
        services.balance_inquiry(card_number="6006 4910 0000 0001", pin=None, source=Source.STAFF)


@pytest.mark.parametrize("form_class", [PayForm, BalanceForm])
@pytest.mark.parametrize("typed", TYPED)
def test_the_online_forms_take_the_number_as_typed(form_class, typed):
    form = form_class({"card_number": typed, "pin": "1234", "attempt_key": "k" * 32})
    form.is_valid()
    assert "card_number" not in form.errors
    assert form.cleaned_data["card_number"] == CARD


@pytest.mark.parametrize("form_class", [PayForm, BalanceForm])
@pytest.mark.parametrize("typed", REFUSED[1:])
def test_the_online_forms_refuse_the_rest(form_class, typed):
    form = form_class({"card_number": typed, "pin": "1234"})
    assert not form.is_valid()
    assert form.errors["card_number"] == [TYPED_CARD_NUMBER_FORMAT]


def test_the_online_card_input_is_marked_for_grouping_and_numeric():
    html = str(PayForm()["card_number"])
    assert "data-card-number" in html
    assert 'inputmode="numeric"' in html
    assert 'autocomplete="off"' in html


@pytest.mark.parametrize("typed", TYPED)
def test_the_kiosk_card_form_uses_the_same_normaliser(typed):
    form = CardForm({"card_number": typed})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["card_number"] == CARD


def test_the_kiosk_refuses_with_the_same_sentence():
    form = CardForm({"card_number": "6006 49x1 0000 0001"})
    assert not form.is_valid()
    assert form.errors["card_number"] == [TYPED_CARD_NUMBER_FORMAT]
    # Card readers still work: track data is not typed.
    assert kiosk_services.parse_card_entry(f";{CARD}=2912101?") == CARD


@pytest.mark.parametrize("typed", TYPED)
def test_the_staff_forms_normalise_only(typed):
    form = BalanceLookupForm({"card_number": typed, "attempt_key": "k" * 32})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["card_number"] == CARD


@pytest.mark.django_db
def test_a_staff_balance_lookup_takes_a_spaced_number(admin_client, sandbox, new_card):
    card = new_card("42.00")
    url = reverse("admin:ecard_integration_ecardtransaction_balance")
    key = re.search(r'name="attempt_key" value="([^"]+)"', admin_client.get(url).content.decode())

    response = admin_client.post(
        url,
        {"card_number": f"{card[:4]} {card[4:8]} {card[8:12]} {card[12:]}", "attempt_key": key[1]},
        follow=True,
    )

    assert "42.00" in response.content.decode()
    row = EcardTransaction.objects.get(kind=Kind.BALANCE_INQUIRY)
    assert row.card_hash == crypto.card_hash(card)


@pytest.mark.django_db
def test_a_staff_card_search_takes_a_dashed_number(admin_client, card):
    response = admin_client.post(
        reverse("admin:ecard_integration_ecardtransaction_find_card"),
        {"card_number": f"{card[:4]}-{card[4:8]}-{card[8:12]}-{card[12:]}"},
    )
    assert response.status_code == 303
    assert "?card=" in response["Location"]
