"""Start-up refuses dangerous configuration, naming the variable to fix."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STRONG = {
    "DEBUG": "0",
    "SECRET_KEY": "k" * 20 + "abcdefghijklmnopqrstuvwxyz0123456789",
    "ALLOWED_HOSTS": "giftcards.example.com",
    "ECARD_CLIENT_ID": "client",
    "ECARD_CLIENT_SECRET": "secret",
    "CARD_DATA_KEYS": "c2VwYXJhdGUta2V5LWZvci1jYXJkLWRhdGEtMDEyMzQ=",
    "CARD_HASH_KEY": "h" * 10 + "0123456789abcdefghijklmnopqrstuv",
}


def start(script="import django; django.setup(); print('started')", **overrides):
    """Load the settings in a fresh interpreter, as a process start-up would."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ECARD_", "CARD_"))}
    env.pop("SECRET_KEY", None)
    env.update(STRONG)
    env.update(overrides)
    env = {k: v for k, v in env.items() if v is not None}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_it_starts_in_production_mode_with_everything_set():
    result = start()
    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"ECARD_BASE_URL": "http://ecard.example.com/api/transaction/v1"}, "ECARD_BASE_URL"),
        (
            {"ECARD_TOKEN_URL": "http://ecard.example.com/api/reporting/v1/auth/token"},
            "ECARD_TOKEN_URL",
        ),
        ({"SECRET_KEY": None}, "SECRET_KEY"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"SECRET_KEY": "django-insecure-" + "x" * 60}, "SECRET_KEY"),
        ({"ECARD_CLIENT_ID": None}, "ECARD_CLIENT_ID"),
        ({"ECARD_CLIENT_SECRET": None}, "ECARD_CLIENT_SECRET"),
        ({"CARD_DATA_KEYS": None}, "CARD_DATA_KEYS"),
        ({"CARD_HASH_KEY": None}, "CARD_HASH_KEY"),
        ({"ALLOWED_HOSTS": None}, "ALLOWED_HOSTS"),
        ({"RECONCILE_BATCH_SIZE": "0"}, "RECONCILE_BATCH_SIZE"),
        ({"RECONCILE_CHAINS": "-1"}, "RECONCILE_CHAINS"),
        ({"RECONCILE_BATCH_SECONDS": "0"}, "RECONCILE_BATCH_SECONDS"),
        ({"ECARD_REPLAY_NEAR_DEADLINE_SECONDS": "7000"}, "ECARD_REPLAY_NEAR_DEADLINE_SECONDS"),
        ({"ECARD_CLOCK_SAMPLE_MAX_AGE_SECONDS": "0"}, "ECARD_CLOCK_SAMPLE_MAX_AGE_SECONDS"),
        ({"ECARD_CLOCK_SKEW_DEGRADED_SECONDS": "-5"}, "ECARD_CLOCK_SKEW_DEGRADED_SECONDS"),
    ],
)
def test_it_refuses_to_start_naming_the_variable(overrides, variable):
    result = start(**overrides)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"{variable}:" in result.stderr


def test_an_http_ecard_url_is_refused_even_in_development():
    result = start(DEBUG="1", ECARD_BASE_URL="http://127.0.0.1:8443/api/transaction/v1")
    assert result.returncode != 0
    assert "ECARD_BASE_URL: must be an https:// URL" in result.stderr


def test_email_url_configures_the_mail_server():
    script = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_USE_TLS, s.EMAIL_TIMEOUT)"
    )
    result = start(EMAIL_URL="smtp+tls://receipts:pw@smtp.example.com:587", script=script)
    assert result.returncode == 0, result.stderr
    backend = "django.core.mail.backends.smtp.EmailBackend"
    assert result.stdout.split() == [backend, "smtp.example.com", "587", "True", "10"]


def test_development_mode_runs_on_embedded_defaults():
    result = start(
        DEBUG="1",
        SECRET_KEY=None,
        ECARD_CLIENT_ID=None,
        ECARD_CLIENT_SECRET=None,
        CARD_DATA_KEYS=None,
        CARD_HASH_KEY=None,
        ALLOWED_HOSTS=None,
    )
    assert result.returncode == 0, result.stderr


def test_celery_configuration_is_what_we_meant(settings):
    """Celery silently ignores a misspelt setting: read the effective configuration back."""
    from config.celery import app

    conf = app.conf
    assert conf.task_serializer == "json"
    assert conf.result_serializer == "json"
    assert conf.accept_content == ["json"]
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.task_time_limit == 120
    assert conf.task_soft_time_limit == 100
    assert conf.worker_prefetch_multiplier == 1
    assert (
        conf.beat_schedule["expire-abandoned-orders"]["task"] == "ordering.expire_abandoned_orders"
    )
    sweep = conf.beat_schedule["reconcile-due-transactions"]
    assert sweep["task"] == "ecard_integration.sweep_due_transactions"
    assert sweep["schedule"].total_seconds() <= 30
    # The broker must not redeliver before the longest countdown we schedule (5 min backoff).
    assert conf.broker_transport_options["visibility_timeout"] > 300
    app.loader.import_default_modules()
    assert "ecard_integration.sweep_due_transactions" in app.tasks
    assert "ecard_integration.reconcile_transaction" in app.tasks
    assert "ordering.expire_abandoned_orders" in app.tasks
    assert "ordering.send_receipt" in app.tasks
    sessions = conf.beat_schedule["clear-expired-sessions"]
    assert app.tasks[sessions["task"]].name == "ordering.clear_expired_sessions"
    assert "ecard_integration.reconcile_due" in app.tasks
    if settings.REDIS_URL:
        assert conf.broker_url == settings.REDIS_URL
    else:
        assert conf.broker_url.startswith("filesystem://")
