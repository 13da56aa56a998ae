"""/healthz reports every component and answers 503 when one is down."""

import pytest


@pytest.mark.django_db
def test_it_reports_each_component(client):
    response = client.get("/healthz")
    body = response.json()
    assert set(body["components"]) == {"database", "cache", "broker", "worker", "reconciliation"}
    assert body["components"]["database"]["ok"] is True
    assert body["components"]["cache"]["ok"] is True
    assert body["components"]["broker"]["ok"] is True
    assert body["components"]["reconciliation"]["ok"] is True
    # No worker runs in this test: the page must say so, with 503.
    assert body["components"]["worker"]["ok"] is False
    assert response.status_code == 503
    assert response["Cache-Control"].startswith("max-age=0")
