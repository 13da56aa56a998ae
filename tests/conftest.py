"""Shared fixtures: one local eCard sandbox over real HTTPS for the whole test session.

Django settings point at it for the session (the client reads settings at call time), and every
test starts from an empty sandbox, an empty cache and no faults.
"""

import os
from pathlib import Path

import pytest

from ecard_sandbox.control import SandboxControl
from ecard_sandbox.process import SandboxProcess

ROOT = Path(__file__).resolve().parent.parent
CLIENT_ID = "test-client"
CLIENT_SECRET = "canary-client-secret-7f3a9c2e"
CONTROL_KEY = "test-control-key"


def using_postgres() -> bool:
    from django.conf import settings

    return settings.USING_POSTGRES


def using_redis() -> bool:
    from django.conf import settings

    return bool(settings.REDIS_URL)


def pytest_collection_modifyitems(config, items):
    needs_pg = pytest.mark.skip(reason="needs PostgreSQL row locks: set DATABASE_URL to PostgreSQL")
    needs_redis = pytest.mark.skip(reason="needs a Redis server: set REDIS_URL")
    for item in items:
        if "postgres" in item.keywords and not using_postgres():
            item.add_marker(needs_pg)
        if "redis" in item.keywords and not using_redis():
            item.add_marker(needs_redis)


@pytest.fixture(scope="session")
def sandbox_process(tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("sandbox")
    with SandboxProcess(
        state_dir=state_dir,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        control_key=CONTROL_KEY,
        seed=int(os.environ.get("SANDBOX_SEED", "7")),
    ) as process:
        yield process


@pytest.fixture(scope="session", autouse=True)
def _point_settings_at_sandbox(request, sandbox_process):
    """Every Django test talks to the session's sandbox; sandbox-only tests never load Django."""
    from django.conf import settings

    from config.logging import register_secret

    overrides = {
        "ECARD_BASE_URL": sandbox_process.base_url,
        "ECARD_TOKEN_URL": sandbox_process.token_url,
        "ECARD_CLIENT_ID": CLIENT_ID,
        "ECARD_CLIENT_SECRET": CLIENT_SECRET,
        "ECARD_CA_BUNDLE": str(sandbox_process.ca_path),
        "ECARD_SANDBOX_CONTROL_KEY": CONTROL_KEY,
    }
    previous = {name: getattr(settings, name) for name in overrides}
    for name, value in overrides.items():
        setattr(settings, name, value)
    register_secret(CLIENT_SECRET)
    yield
    for name, value in previous.items():
        setattr(settings, name, value)


@pytest.fixture
def sandbox(sandbox_process) -> SandboxControl:
    """The sandbox's control API, reset to an empty state with no faults."""
    control = sandbox_process.control
    control.reset()
    return control


@pytest.fixture(autouse=True)
def _clear_cache(request):
    """Throttles, kiosk lockouts and tokens live in the cache: each test starts without what the
    last one left. The database cache table outlives `transaction=True` tests, so it is emptied;
    on Redis our keys are dropped, the token excepted (never FLUSHDB: Celery shares the server)."""
    yield
    from django.conf import settings

    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        prefix = settings.CACHES["default"]["KEY_PREFIX"]
        for key in client.scan_iter(f"{prefix}:*", count=500):
            if b":ecard:token" not in key:  # the token outlives tests, as it outlives requests
                client.delete(key)
        client.close()
    elif request.node.get_closest_marker("django_db"):
        from django.core.cache import cache

        cache.clear()
    # eCard's clock as measured: a test that moved the sandbox clock must not move the next's.
    from ecard_integration import clock

    clock.forget()
