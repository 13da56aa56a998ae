"""The bench's baseline views (bench/views.py) exist only in the bench's URLconf.

Production's URLconf (config/urls.py, what config.settings and tests.settings route with) must
never serve them; bench/urls.py must, with the CSRF check and the session of a real POST.
"""

import pytest
from django.db import connection
from django.test import Client
from django.urls import Resolver404, URLPattern, URLResolver, get_resolver, resolve

from bench import views
from bench.config import BARE_PATH, WRITE_PATH
from bench.models import BaselineWrite, create_table
from bench.web import CSRF_RE

BENCH_VIEWS = (views.bare_post, views.write_post)


def _callbacks(resolver: URLResolver):
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            yield from _callbacks(pattern)
        elif isinstance(pattern, URLPattern):
            yield pattern.callback


def test_production_settings_route_with_production_urls(settings):
    assert settings.ROOT_URLCONF == "config.urls"


@pytest.mark.parametrize("path", [BARE_PATH, WRITE_PATH])
def test_production_urls_do_not_resolve_a_baseline_path(path):
    with pytest.raises(Resolver404):
        resolve(path, urlconf="config.urls")


def test_no_production_url_reaches_a_baseline_view():
    callbacks = list(_callbacks(get_resolver("config.urls")))
    assert callbacks  # the walk found the site's views
    assert not [c for c in callbacks if c in BENCH_VIEWS or c.__module__.startswith("bench")]


@pytest.mark.parametrize("path", [BARE_PATH, WRITE_PATH])
def test_the_bench_urls_resolve_them(path):
    assert resolve(path, urlconf="bench.urls").func in BENCH_VIEWS


@pytest.mark.django_db
def test_a_baseline_post_is_refused_in_production(client):
    assert client.post(BARE_PATH).status_code == 404


def _guest_with_csrf(settings) -> tuple[Client, str]:
    settings.ROOT_URLCONF = "bench.urls"
    guest = Client(enforce_csrf_checks=True)
    page = guest.get("/")
    assert page.status_code == 200
    return guest, CSRF_RE.search(page.content.decode()).group(1)


@pytest.mark.django_db
def test_the_bare_post_checks_csrf_and_keeps_a_session(settings, items):
    guest, token = _guest_with_csrf(settings)
    assert guest.post(BARE_PATH).status_code == 403
    assert guest.post(BARE_PATH, {"csrfmiddlewaretoken": token}).status_code == 204
    key = guest.cookies[settings.SESSION_COOKIE_NAME].value
    assert guest.post(BARE_PATH, {"csrfmiddlewaretoken": token}).status_code == 204
    assert guest.cookies[settings.SESSION_COOKIE_NAME].value == key


@pytest.mark.django_db(transaction=True)
def test_the_write_post_inserts_and_updates_one_row(settings, items):
    create_table()
    try:
        guest, token = _guest_with_csrf(settings)
        assert guest.post(WRITE_PATH, {"csrfmiddlewaretoken": token}).status_code == 204
        assert list(BaselineWrite.objects.values_list("state", flat=True)) == ["done"]
    finally:
        with connection.schema_editor() as editor:
            editor.delete_model(BaselineWrite)
