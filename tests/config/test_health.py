"""/healthz reports every component and answers 503 when one is down."""

import pytest


@pytest.mark.django_db
def test_it_reports_each_component(client):
    response = client.get("/healthz")
    body = response.json()
    assert set(body["components"]) == {
        "database",
        "cache",
        "broker",
        "worker",
        "reconciliation",
        "clock",
    }
    assert body["components"]["database"]["ok"] is True
    assert body["components"]["cache"]["ok"] is True
    assert body["components"]["broker"]["ok"] is True
    assert body["components"]["reconciliation"]["ok"] is True
    # No worker runs in this test: the page must say so, with 503.
    assert body["components"]["worker"]["ok"] is False
    assert response.status_code == 503
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.fixture
def card(sandbox):
    from tests.ecard_integration.helpers import new_card_number

    number = new_card_number()
    sandbox.create_card(number, "50.00", pin="7315")
    return number


def ecard_answers(card):
    from ecard_integration import services
    from ecard_integration.models import Source

    services.balance_inquiry(card_number=card, pin="7315", source=Source.KIOSK)


@pytest.mark.django_db(transaction=True)
def test_the_clock_is_unknown_and_ok_before_ecard_has_answered(client, sandbox):
    clock = client.get("/healthz").json()["components"]["clock"]
    assert clock == {"ok": True, "status": "unknown", "offset_seconds": None, "age_seconds": None}


@pytest.mark.django_db(transaction=True)
def test_the_clock_is_ok_when_ecard_is_in_step(client, sandbox, card):
    ecard_answers(card)
    clock = client.get("/healthz").json()["components"]["clock"]
    assert clock["ok"] is True
    assert clock["status"] == "ok"
    assert abs(clock["offset_seconds"]) < 5
    assert 0 <= clock["age_seconds"] < 30


@pytest.mark.django_db(transaction=True)
def test_the_clock_is_degraded_when_ecard_runs_ahead(client, sandbox, card, settings):
    sandbox.advance_clock(settings.ECARD_CLOCK_SKEW_DEGRADED_SECONDS + 240)
    ecard_answers(card)
    response = client.get("/healthz")
    clock = response.json()["components"]["clock"]
    assert clock["ok"] is False
    assert clock["status"] == "degraded"
    assert abs(clock["offset_seconds"] - settings.ECARD_CLOCK_SKEW_DEGRADED_SECONDS - 240) < 5
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
