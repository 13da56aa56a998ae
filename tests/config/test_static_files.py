"""With DEBUG off, gunicorn alone serves a complete site: the pages name hashed static files, and
the app serves them (WhiteNoise) compressed, with a far-future cache lifetime; /favicon.ico too.

The files are collected once, as production collects them (deploy/systemd's ExecStartPre), into a
folder of this module's own, by a process started with the production configuration.
"""

import gzip
import http.client
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import brotli
import pytest
from django.core.wsgi import get_wsgi_application

from tests.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "config.settings",
    "DEBUG": "0",
    "SECRET_KEY": "s" * 20 + "abcdefghijklmnopqrstuvwxyz0123456789",
    "ALLOWED_HOSTS": "giftcards.example.com",
    "ECARD_CLIENT_ID": "client",
    "ECARD_CLIENT_SECRET": "secret",
    "CARD_DATA_KEYS": "c2VwYXJhdGUta2V5LWZvci1jYXJkLWRhdGEtMDEyMzQ=",
    "CARD_HASH_KEY": "h" * 10 + "0123456789abcdefghijklmnopqrstuv",
}
TEN_YEARS = "max-age=315360000"
HASHED_CSS = re.compile(r'href="/static/(ordering/site\.[0-9a-f]{12}\.css)"')


def production_env(static_root: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ECARD_", "CARD_", "GUNICORN"))}
    for name in ("DATABASE_URL", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"):
        env.pop(name, None)
    env.update(PRODUCTION, STATIC_ROOT=str(static_root), **extra)
    return env


@pytest.fixture(scope="module")
def static_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("collected")
    done = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=ROOT,
        env=production_env(root),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return root


@pytest.fixture(scope="module")
def manifest(static_root) -> dict[str, str]:
    return json.loads((static_root / "staticfiles.json").read_text())["paths"]


@pytest.fixture(scope="module")
def gunicorn(static_root, tmp_path_factory):
    """gunicorn with config/gunicorn.conf.py and nothing in front of it."""
    port = free_port()
    env = production_env(
        static_root,
        DATABASE_URL=f"sqlite:///{tmp_path_factory.mktemp('db') / 'db.sqlite3'}",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS="1",
        GUNICORN_THREADS="2",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=1).connect()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(process.stderr.read().decode()[-3000:]) from None
                time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def fetch(port: int, path: str, **headers) -> tuple[http.client.HTTPResponse, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    # As the TLS proxy would forward it (the production configuration redirects plain HTTP).
    headers = {"Host": "giftcards.example.com", "X-Forwarded-Proto": "https", **headers}
    connection.request("GET", path, headers={k.replace("_", "-"): v for k, v in headers.items()})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response, body


def test_a_hashed_file_is_served_compressed_with_a_far_future_lifetime(gunicorn, manifest):
    hashed = manifest["ordering/site.css"]
    assert hashed != "ordering/site.css"
    original = (ROOT / "static" / "ordering" / "site.css").read_bytes()

    response, body = fetch(gunicorn, f"/static/{hashed}", Accept_Encoding="gzip, deflate, br")
    assert response.status == 200
    assert response.getheader("Content-Encoding") == "br"
    assert brotli.decompress(body) == original
    assert TEN_YEARS in response.getheader("Cache-Control")
    assert "immutable" in response.getheader("Cache-Control")
    assert "Accept-Encoding" in response.getheader("Vary")
    # The security headers still apply (SecurityMiddleware runs before WhiteNoise).
    assert response.getheader("X-Content-Type-Options") == "nosniff"

    response, body = fetch(gunicorn, f"/static/{hashed}", Accept_Encoding="gzip")
    assert response.getheader("Content-Encoding") == "gzip"
    assert gzip.decompress(body) == original

    response, body = fetch(gunicorn, f"/static/{hashed}")
    assert response.getheader("Content-Encoding") is None
    assert body == original


def test_an_unhashed_name_is_not_cached_for_long(gunicorn):
    response, _ = fetch(gunicorn, "/static/ordering/site.css")
    assert response.status == 200
    assert response.getheader("Cache-Control") == "max-age=3600, public"


def test_favicon_ico_leads_to_the_svg_icon(gunicorn, manifest):
    response, _ = fetch(gunicorn, "/favicon.ico")
    assert response.status == 301
    assert response.getheader("Location") == f"/static/{manifest['favicon.svg']}"
    icon, body = fetch(gunicorn, response.getheader("Location"))
    assert icon.status == 200
    assert icon.getheader("Content-Type").startswith("image/svg+xml")
    assert body.startswith(b"<svg")


def test_a_missing_static_file_is_a_404(gunicorn):
    response, _ = fetch(gunicorn, "/static/ordering/no-such-file.css")
    assert response.status == 404


@pytest.fixture
def production_storage(settings, static_root):
    """This process's settings on the production storage and the files collected above."""
    settings.STATIC_ROOT = static_root
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    settings.WHITENOISE_MAX_AGE = 3600


def wsgi_get(app, path: str, **headers) -> tuple[str, dict, bytes]:
    """One GET through a WSGI application, as gunicorn calls it."""
    from wsgiref.util import setup_testing_defaults

    environ = {"PATH_INFO": path, "REQUEST_METHOD": "GET", "HTTP_HOST": "testserver"}
    environ.update({f"HTTP_{k.upper()}": v for k, v in headers.items()})
    setup_testing_defaults(environ)
    answer = {}

    def start_response(status, response_headers, exc_info=None):
        answer["status"] = status
        answer["headers"] = dict(response_headers)

    result = app(environ, start_response)
    body = b"".join(result)
    if hasattr(result, "close"):
        result.close()
    return answer["status"], answer["headers"], body


# A real WSGI handler closes the database connection after each request, as in production.
@pytest.mark.django_db(transaction=True)
def test_pages_name_the_hashed_files_the_wsgi_app_serves(production_storage, items, manifest):
    app = get_wsgi_application()  # what config.wsgi gives gunicorn, on these settings
    status, _, page = wsgi_get(app, "/")
    assert status.startswith("200")
    html = page.decode()
    stylesheet = HASHED_CSS.search(html)
    assert stylesheet, html[:2000]
    assert stylesheet.group(1) == manifest["ordering/site.css"]
    assert f'rel="icon" href="/static/{manifest["favicon.svg"]}"' in html

    status, headers, body = wsgi_get(app, f"/static/{stylesheet.group(1)}", ACCEPT_ENCODING="gzip")
    assert status.startswith("200")
    assert headers["Content-Encoding"] == "gzip"
    assert TEN_YEARS in headers["Cache-Control"]
    assert gzip.decompress(body) == (ROOT / "static" / "ordering" / "site.css").read_bytes()
