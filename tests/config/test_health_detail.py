"""/healthz tells its components only to loopback and HEALTHZ_DETAIL_ALLOW, the address found as
the trusted-proxy rules find it; everyone else gets the bare status, with the same HTTP code."""

import pytest

from tests.config.test_settings import start

DETAIL_KEYS = {"status", "components", "build"}


def healthz(client, remote_addr, forwarded=None):
    headers = {"REMOTE_ADDR": remote_addr}
    if forwarded is not None:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded
    return client.get("/healthz", **headers)


@pytest.fixture
def behind_one_proxy(settings):
    settings.TRUSTED_PROXY_COUNT = 1


@pytest.mark.django_db(transaction=True)
def test_loopback_sees_the_components_and_a_stranger_only_the_status(client):
    detailed = healthz(client, "127.0.0.1")
    bare = healthz(client, "203.0.113.9")
    assert set(detailed.json()) == DETAIL_KEYS
    assert detailed.json()["components"]["database"]["vendor"]
    # No worker runs here: both say so, with the same code.
    assert bare.json() == {"status": "unavailable"}
    assert bare.status_code == detailed.status_code == 503
    assert bare["Cache-Control"].startswith("max-age=0")
    assert set(healthz(client, "::1").json()) == DETAIL_KEYS


@pytest.mark.django_db(transaction=True)
def test_the_allow_list_takes_addresses_and_networks(client, settings):
    settings.HEALTHZ_DETAIL_ALLOW = ["203.0.113.0/24", "2001:db8::7"]
    assert set(healthz(client, "203.0.113.9").json()) == DETAIL_KEYS
    assert set(healthz(client, "2001:db8::7").json()) == DETAIL_KEYS
    assert healthz(client, "198.51.100.1").json() == {"status": "unavailable"}


@pytest.mark.django_db(transaction=True)
def test_behind_a_loopback_proxy_the_guest_is_not_loopback(client, settings, behind_one_proxy):
    # The proxy on this host connects from 127.0.0.1 and appends the guest's address.
    assert healthz(client, "127.0.0.1", "198.51.100.7").json() == {"status": "unavailable"}
    # A guest who writes 127.0.0.1 into the header is still the address the proxy saw.
    spoofed = healthz(client, "127.0.0.1", "127.0.0.1, 198.51.100.7")
    assert spoofed.json() == {"status": "unavailable"}
    # A monitor on the allow-list, through the proxy; a monitor on this host, straight to gunicorn.
    settings.HEALTHZ_DETAIL_ALLOW = ["198.51.100.0/24"]
    assert set(healthz(client, "127.0.0.1", "198.51.100.7").json()) == DETAIL_KEYS
    assert set(healthz(client, "127.0.0.1").json()) == DETAIL_KEYS


@pytest.mark.django_db(transaction=True)
def test_a_chain_shorter_than_the_proxies_gets_no_details(client, settings):
    settings.TRUSTED_PROXY_COUNT = 2
    # Two proxies would have written two entries: this one came from the client itself.
    assert healthz(client, "127.0.0.1", "127.0.0.1").json() == {"status": "unavailable"}
    assert set(healthz(client, "127.0.0.1", "127.0.0.1, 127.0.0.1").json()) == DETAIL_KEYS


def test_start_up_refuses_an_allow_list_entry_that_is_no_address():
    result = start(HEALTHZ_DETAIL_ALLOW="10.0.0.0/8,monitoring.example.com")
    assert result.returncode != 0
    assert "HEALTHZ_DETAIL_ALLOW" in result.stderr
    assert start(HEALTHZ_DETAIL_ALLOW="10.0.0.0/8,192.0.2.4").returncode == 0
