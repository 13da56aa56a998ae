"""Production configuration: `check --deploy`, what a production process actually answers (HTTPS
redirect behind the proxy, HSTS, cookie flags, Host checking), and key rotation (SECRET_KEY_FALLBACKS
for everything Django signs, CARD_DATA_KEYS for stored replay bytes)."""

import io
import json
import os
import secrets
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.core import signing
from django.core.management import call_command
from django.db.models.functions import Now
from django.test import Client
from django.urls import reverse

from ecard_integration import reconciliation, services
from ecard_integration.models import EcardTransaction, Source, State
from tests.factories import PIN
from tests.security.helpers import TX, add_to_cart

ROOT = Path(__file__).resolve().parents[2]
OLD_KEY = "old-secret-key-" + "o" * 20 + "0123456789abcdefghijklmnop"
NEW_KEY = "new-secret-key-" + "n" * 20 + "qrstuvwxyz9876543210ABCDEF"


def production_env(tmp_path) -> dict[str, str]:
    """Environment of a production process: DEBUG off, strong secrets, its own SQLite file."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ECARD_", "CARD_", "SECRET_KEY", "PIN_THROTTLE", "AXES_"))
        and k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "ALLOWED_HOSTS")
    }
    env.update(
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="giftcards.example.com",
        ECARD_CLIENT_ID="prod-client",
        ECARD_CLIENT_SECRET="prod-secret",
        CARD_DATA_KEYS=Fernet.generate_key().decode(),
        CARD_HASH_KEY=secrets.token_urlsafe(40),
        DATABASE_URL=f"sqlite:///{tmp_path / 'prod.sqlite3'}",
        CELERY_QUEUE_DIR=str(tmp_path / "celery"),
        STATIC_ROOT=str(tmp_path / "static"),
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    return env


# --- check --deploy -----------------------------------------------------------------------------


def test_check_deploy_passes_at_warning_level():
    """What CI runs (scripts/check-deploy.sh): `check --deploy --fail-level WARNING`."""
    # Not what a deployment has: the test run's settings module, and the async-unsafe switch the
    # browser tests set for Playwright's event loop.
    dropped = {"DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "check-deploy.sh")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


# What a production process answers, asked with Django's test client inside that process.
PRODUCTION_PROBE = r"""
import json
import django
django.setup()
from django.conf import settings
from django.core.management import call_command
call_command("migrate", verbosity=0, interactive=False)
call_command("createcachetable", verbosity=0)
call_command("collectstatic", "--noinput", verbosity=0)  # as production starts (deploy/systemd)
from django.test import Client
from ordering.models import Category, Item

item = Item.objects.create(category=Category.objects.create(name="C"), name="Tea", price="2.00")
host = "giftcards.example.com"
proxied = {"HTTP_X_FORWARDED_PROTO": "https"}
client = Client(HTTP_HOST=host)


def cookies(response):
    return {
        name: {"secure": bool(m["secure"]), "httponly": bool(m["httponly"]), "samesite": m["samesite"]}
        for name, m in response.cookies.items()
    }


out = {}
response = client.get("/")
out["plain_http"] = [response.status_code, response.get("Location", "")]
response = client.get("/", **proxied)
out["https"] = {"status": response.status_code, "headers": dict(response.headers)}
response = client.post("/cart/add/", {"item": str(item.id), "quantity": "1"}, **proxied)
out["cart_add"] = {"status": response.status_code, "cookies": cookies(response)}
response = client.get("/admin/login/", **proxied)
out["admin_login"] = {"status": response.status_code, "cookies": cookies(response),
                      "headers": dict(response.headers)}
response = client.get("/", HTTP_HOST="evil.example.com", **proxied)
out["forged_host"] = response.status_code
response = client.get("/", HTTP_X_FORWARDED_PROTO="http")
out["proxy_says_http"] = [response.status_code, response.get("Location", "")]
out["settings"] = {
    name: getattr(settings, name)
    for name in (
        "DEBUG", "SECURE_SSL_REDIRECT", "SECURE_PROXY_SSL_HEADER", "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD", "SESSION_COOKIE_SECURE",
        "SESSION_COOKIE_HTTPONLY", "CSRF_COOKIE_SECURE", "X_FRAME_OPTIONS",
        "SECURE_REFERRER_POLICY", "SECURE_CONTENT_TYPE_NOSNIFF", "ALLOWED_HOSTS",
        "DATA_UPLOAD_MAX_MEMORY_SIZE",
    )
}
print("PROBE " + json.dumps(out, default=str))
"""


@pytest.fixture(scope="module")
def production(tmp_path_factory) -> dict:
    tmp_path = tmp_path_factory.mktemp("production")
    result = subprocess.run(
        [sys.executable, "-c", PRODUCTION_PROBE],
        cwd=ROOT,
        env=production_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("PROBE "))
    return json.loads(line.removeprefix("PROBE "))


def test_production_settings(production):
    s = production["settings"]
    assert s["DEBUG"] is False
    assert s["SECURE_SSL_REDIRECT"] is True
    assert s["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert s["SECURE_HSTS_SECONDS"] >= 31536000
    assert s["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert s["SESSION_COOKIE_SECURE"] is True
    assert s["SESSION_COOKIE_HTTPONLY"] is True
    assert s["CSRF_COOKIE_SECURE"] is True
    assert s["X_FRAME_OPTIONS"] == "DENY"
    assert s["SECURE_REFERRER_POLICY"] == "same-origin"
    assert s["SECURE_CONTENT_TYPE_NOSNIFF"] is True
    assert s["ALLOWED_HOSTS"] == ["giftcards.example.com"]
    assert s["DATA_UPLOAD_MAX_MEMORY_SIZE"] == 64 * 1024


def test_production_redirects_plain_http_to_https(production):
    assert production["plain_http"] == [301, "https://giftcards.example.com/"]
    # The proxy's X-Forwarded-Proto is what counts: "http" from the proxy is redirected too.
    assert production["proxy_says_http"] == [301, "https://giftcards.example.com/"]


def test_production_https_responses_carry_the_security_headers(production):
    response = production["https"]
    assert response["status"] == 200
    headers = {k.lower(): v for k, v in response["headers"].items()}
    assert headers["strict-transport-security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cross-origin-opener-policy"] == "same-origin"
    assert "script-src 'self' 'nonce-" in headers["content-security-policy"]
    assert "unsafe-inline" not in headers["content-security-policy"]
    assert "no-store" in headers["cache-control"]


def test_production_cookies_are_secure_and_http_only(production):
    session = production["cart_add"]["cookies"]["sessionid"]
    assert production["cart_add"]["status"] == 303
    assert session == {"secure": True, "httponly": True, "samesite": "Lax"}
    csrf = production["admin_login"]["cookies"]["csrftoken"]
    assert csrf["secure"] is True
    assert csrf["samesite"] == "Lax"
    headers = {k.lower(): v for k, v in production["admin_login"]["headers"].items()}
    assert headers["x-frame-options"] == "DENY"
    policy = dict(d.strip().split(" ", 1) for d in headers["content-security-policy"].split(";"))
    assert "'unsafe-inline'" not in policy["script-src"]


def test_production_refuses_a_forged_host(production):
    assert production["forged_host"] == 400


def test_settings_in_force_for_every_environment():
    assert settings.X_FRAME_OPTIONS == "DENY"
    assert settings.SECURE_REFERRER_POLICY == "same-origin"
    assert settings.SESSION_COOKIE_HTTPONLY is True
    assert settings.SESSION_COOKIE_SAMESITE == "Lax"
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == 64 * 1024
    assert "config.security.ContentSecurityPolicyMiddleware" in settings.MIDDLEWARE
    assert "django.middleware.csrf.CsrfViewMiddleware" in settings.MIDDLEWARE
    assert "django.middleware.clickjacking.XFrameOptionsMiddleware" in settings.MIDDLEWARE
    assert settings.MIDDLEWARE[-1] == "axes.middleware.AxesMiddleware"


# --- SECRET_KEY_FALLBACKS -------------------------------------------------------------------------


def test_signed_values_survive_a_secret_key_rotation_only_while_the_old_key_is_a_fallback(settings):
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = OLD_KEY, []
    value = signing.dumps({"kiosk": 7}, salt="kiosk.device-credential")
    cookie_signer_value = signing.get_cookie_signer(salt="messages").sign("hello")

    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = NEW_KEY, [OLD_KEY]
    assert signing.loads(value, salt="kiosk.device-credential") == {"kiosk": 7}
    assert signing.get_cookie_signer(salt="messages").unsign(cookie_signer_value) == "hello"
    # New values are signed with the new key: they no longer need the old one.
    fresh = signing.dumps({"kiosk": 7}, salt="kiosk.device-credential")

    settings.SECRET_KEY_FALLBACKS = []
    with pytest.raises(signing.BadSignature):
        signing.loads(value, salt="kiosk.device-credential")
    with pytest.raises(signing.BadSignature):
        signing.get_cookie_signer(salt="messages").unsign(cookie_signer_value)
    assert signing.loads(fresh, salt="kiosk.device-credential") == {"kiosk": 7}


@pytest.mark.django_db
def test_a_guest_session_signed_with_the_old_key_is_accepted_while_it_is_a_fallback(
    client, settings, items
):
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = OLD_KEY, []
    assert add_to_cart(client, items["latte"], "2").status_code == 303

    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = NEW_KEY, [OLD_KEY]
    page = client.get(reverse("ordering:cart")).content.decode()
    assert "Latte" in page
    assert "$9.00" in page

    settings.SECRET_KEY_FALLBACKS = []  # the old key retired: its signatures are worthless
    page = client.get(reverse("ordering:cart")).content.decode()
    assert "Your cart is empty." in page


@pytest.mark.django_db
def test_a_staff_login_signed_with_the_old_key_is_accepted_while_it_is_a_fallback(
    settings, supervisor
):
    changelist = reverse("admin:ecard_integration_ecardtransaction_changelist")
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = OLD_KEY, []
    rotated_without_fallback, rotated_with_fallback = Client(), Client()
    for client in (rotated_without_fallback, rotated_with_fallback):
        client.force_login(supervisor)
        assert client.get(changelist).status_code == 200

    settings.SECRET_KEY = NEW_KEY
    response = rotated_without_fallback.get(changelist)
    assert response.status_code == 302  # logged out: the old key no longer verifies it
    assert response["Location"].startswith(reverse("admin:login"))

    settings.SECRET_KEY_FALLBACKS = [OLD_KEY]
    assert rotated_with_fallback.get(changelist).status_code == 200
    # Django re-keyed that session on its first use: it outlives the fallback's removal.
    settings.SECRET_KEY_FALLBACKS = []
    assert rotated_with_fallback.get(changelist).status_code == 200


# --- CARD_DATA_KEYS: replay bytes of an unknown outcome are rotated too ---------------------------------


@TX
def test_rotating_the_card_data_key_keeps_an_unknown_redeem_replayable(sandbox, settings):
    card = "6008000011112222"
    sandbox.create_card(card, Decimal("30.00"), pin=PIN)
    sandbox.set_faults([{"match": {"endpoint": "redeem"}, "action": "drop_after_commit"}])
    row = services.redeem(
        card_number=card, amount="5.00", pin=PIN, source=Source.KIOSK, budget_seconds=1
    )
    sandbox.clear_faults()
    assert row.state == State.UNKNOWN
    assert row.replay_ciphertext is not None

    old_key, new_key = settings.CARD_DATA_KEYS[0], Fernet.generate_key().decode()
    settings.CARD_DATA_KEYS = [new_key, old_key]
    call_command("rotate_card_key", stdout=io.StringIO())
    settings.CARD_DATA_KEYS = [new_key]  # the old key is gone before the replay

    EcardTransaction.objects.filter(id=row.id).update(next_attempt_at=Now() - timedelta(seconds=1))
    assert reconciliation.reconcile(row.id) == State.APPROVED
    row.refresh_from_db()
    assert row.replay_ciphertext is None  # wiped at the outcome
    assert len(sandbox.ledger()) == 1
    assert sandbox.card(card)["balance"] == "25.00"
