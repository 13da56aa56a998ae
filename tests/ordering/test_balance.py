"""The online balance check at /balance/: the PIN required, the kiosk's throttle and sentences,
post/redirect/get (a reload asks eCard nothing), the card number kept after a wrong PIN."""

import re
import time

import pytest
from django.test import Client
from django.urls import reverse

from ecard_integration import crypto
from ecard_integration.models import EcardTransaction, Kind, Source
from ordering import services
from ordering.pins import throttle
from ordering.views.balance import LAST_TRY, RESULT_SESSION_KEY
from tests.factories import PIN, WRONG_PIN

pytestmark = pytest.mark.django_db(transaction=True)

BALANCE = reverse("ordering:balance")
RESULT = reverse("ordering:balance_result")
GENERIC = "The card number or PIN is not right. Check both and try again."


def check(client, card, pin=PIN, **extra):
    return client.post(BALANCE, {"card_number": card, "pin": pin, **extra})


def body(response) -> str:
    return response.content.decode().replace("&#x27;", "'")


def pin_input(html: str) -> str:
    return re.search(r'<input[^>]*name="pin"[^>]*>', html).group(0)


def test_the_balance_and_the_masked_card_survive_a_reload_without_asking_ecard_again(
    client, sandbox, new_card
):
    card = new_card("37.75")

    response = check(client, card)

    assert response.status_code == 303
    assert response["Location"] == RESULT
    for _ in range(2):  # the page, then a reload
        page = client.get(RESULT)
        assert page.status_code == 200
        assert "no-store" in page["Cache-Control"]
        html = body(page)
        assert "$37.75" in html
        assert f"•••• {card[-4:]}" in html
        assert card not in html
    assert [entry["type"] for entry in sandbox.ledger()] == ["balance-inquiry"]
    row = EcardTransaction.objects.get(kind=Kind.BALANCE_INQUIRY)
    store = services.online_store()
    assert (row.source, row.store_id, row.terminal_id) == (
        Source.ONLINE,
        store.ecard_store_id,
        store.online_terminal_id,
    )
    stored = str(dict(client.session.items()))
    assert PIN not in stored
    assert card not in stored
    assert client.session[RESULT_SESSION_KEY]["last4"] == card[-4:]


def test_a_spaced_or_dashed_card_number_is_checked(client, sandbox, new_card):
    card = new_card("12.00")
    typed = f"{card[:4]} {card[4:8]}-{card[8:12]} {card[12:]}"

    assert check(client, typed)["Location"] == RESULT

    assert "$12.00" in body(client.get(RESULT))
    assert EcardTransaction.objects.get().card_hash == crypto.card_hash(card)


def test_the_pin_is_required_even_for_a_card_that_has_none(client, sandbox, new_card):
    card = new_card("20.00", pin=None)

    response = check(client, card, pin="")

    assert response.status_code == 400
    html = body(response)
    assert "Enter the card's PIN." in html
    # The number stays, to type only the PIN; sealed on the server, its last four on the page.
    assert f"Card •••• {card[-4:]}" in html
    assert card not in html
    assert sandbox.ledger() == []
    assert not EcardTransaction.objects.exists()


def test_a_wrong_pin_says_so_on_the_form_and_keeps_the_card_number_not_the_pin(
    client, sandbox, new_card
):
    card = new_card("30.00")

    response = check(client, card, pin=WRONG_PIN)

    assert response.status_code == 303
    assert response["Location"] == BALANCE
    html = body(client.get(BALANCE))
    form = html[html.index('id="balance-form"') :]
    assert GENERIC in form  # in the form's own error list
    assert f"Card •••• {card[-4:]}" in form  # kept, only its last four digits shown
    assert card not in html
    assert "value=" not in pin_input(html)
    assert PIN not in str(dict(client.session.items()))
    assert card not in str(dict(client.session.items()))  # kept sealed
    # A reload keeps the number; the sentence was said once.
    again = body(client.get(BALANCE))
    assert f"Card •••• {card[-4:]}" in again
    assert GENERIC not in again
    assert [entry["response_code"] for entry in sandbox.ledger()] == ["55"]
    # The right PIN with the kept card: the balance, without typing the number again.
    response = client.post(BALANCE, {"kept_card": "True", "pin": PIN})
    assert response.status_code == 303
    assert "30.00" in body(client.get(response["Location"]))


def test_a_pin_of_the_wrong_shape_keeps_the_number_sealed_and_asks_nothing(
    client, sandbox, new_card
):
    card = new_card("30.00")

    response = check(client, card, pin="12")

    assert response.status_code == 400
    html = body(response)
    assert "Enter the PIN as 4 to 8 digits." in html
    assert f"Card •••• {card[-4:]}" in html
    assert card not in html
    assert sandbox.ledger() == []
    response = client.post(BALANCE, {"kept_card": "True", "pin": PIN})
    assert response.status_code == 303
    assert "30.00" in body(client.get(response["Location"]))


def test_an_unknown_card_reads_like_a_wrong_pin(client, sandbox):
    response = check(client, "6007000000000000")

    assert response["Location"] == BALANCE
    assert GENERIC in body(client.get(BALANCE))
    assert [entry["response_code"] for entry in sandbox.ledger()] == ["14"]


def test_two_wrong_pins_block_the_card_before_ecards_lock_as_at_the_kiosk(
    client, sandbox, new_card
):
    card = new_card("30.00")
    for _ in range(2):
        check(client, card, pin=WRONG_PIN)
        assert GENERIC in body(client.get(BALANCE))

    response = check(client, card, pin=PIN)  # even the right PIN

    assert response.status_code == 429
    assert throttle.BLOCKED_MESSAGE in body(response)
    elsewhere = check(Client(REMOTE_ADDR="10.9.9.9"), card, pin=PIN)  # blocked for everyone
    assert elsewhere.status_code == 429
    state = sandbox.card(card)
    assert state["locked"] is False
    assert state["failed_pin_attempts"] == 2
    assert [entry["response_code"] for entry in sandbox.ledger()] == ["55", "55"]


def test_a_session_is_blocked_after_five_wrong_pins_across_cards(client, sandbox, new_card):
    for _ in range(5):
        check(client, new_card("5.00"), pin=WRONG_PIN)
        assert GENERIC in body(client.get(BALANCE))

    response = check(client, new_card("5.00"), pin=PIN)

    assert response.status_code == 429
    assert len(sandbox.ledger()) == 5


def test_ecards_last_try_is_asked_before_it_is_sent(client, sandbox, new_card):
    card = new_card("30.00")
    for _ in range(2):
        check(client, card, pin=WRONG_PIN)
    throttle.clear_card(crypto.card_hash(card))  # staff cleared our block; eCard still counts 2

    response = check(client, card, pin=PIN)

    assert response.status_code == 409
    assert LAST_TRY in body(response)
    assert 'name="confirm_last_try" value="1"' in body(response)
    assert len(sandbox.ledger()) == 2
    assert check(client, card, pin=PIN, confirm_last_try="1")["Location"] == RESULT
    assert "$30.00" in body(client.get(RESULT))


def test_a_pin_in_the_address_is_ignored_and_sends_nothing(client, sandbox, new_card):
    card = new_card("10.00")

    response = client.get(BALANCE, {"card_number": card, "pin": PIN})

    assert response.status_code == 200
    assert card not in body(response)
    assert sandbox.ledger() == []


def test_an_old_result_is_gone(client, sandbox, new_card):
    check(client, new_card("8.00"))
    session = client.session
    session[RESULT_SESSION_KEY] = {**session[RESULT_SESSION_KEY], "expires": time.time() - 1}
    session.save()

    response = client.get(RESULT)

    assert response.status_code == 303
    assert response["Location"] == BALANCE
    assert RESULT_SESSION_KEY not in client.session


def test_the_menu_links_to_the_balance_check(client, items):
    assert f'href="{BALANCE}"' in body(client.get(reverse("ordering:menu")))
