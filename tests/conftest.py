"""Shared fixtures: one local eCard sandbox over real HTTPS for the whole test session, its
cards, a small menu and a staff viewer.

Django settings point at it for the session (the client reads settings at call time), and every
test starts from an empty sandbox, an empty cache and no faults. Plain helpers and constants are
in tests/factories.py: no test imports a conftest.
"""

import os
from decimal import Decimal

import pytest

from ecard_sandbox.control import SandboxControl
from ecard_sandbox.process import SandboxProcess
from ordering.models import Category, Item
from tests.factories import (
    CLIENT_ID,
    CLIENT_SECRET,
    CONTROL_KEY,
    PIN,
    make_staff,
    new_card_number,
    using_postgres,
    using_redis,
)

# The kiosk's store, kiosk, enrolled client and visit (tests/kiosk and tests/i18n use them).
pytest_plugins = ["tests.kiosk_fixtures"]


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

    from ecard_integration.redaction import register_secret

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


@pytest.fixture
def new_card(sandbox):
    """Make a sandbox card: `new_card("25.00")`, `new_card("10.00", status="inactive")`,
    `new_card("100.00", number=CARD)`; its PIN is PIN unless `pin=` says otherwise."""

    def make(balance, *, pin=PIN, number=None, **options) -> str:
        number = number or new_card_number()
        sandbox.create_card(number, Decimal(balance), pin=pin, **options)
        return number

    return make


@pytest.fixture
def card(new_card, request):
    """One fresh card, made from the test module's constants: `CARD_BALANCE` (default 100.00),
    `PIN` (default the shared PIN) and `CARD` (a fixed number, where the module names one)."""
    module = request.module
    return new_card(
        getattr(module, "CARD_BALANCE", "100.00"),
        pin=getattr(module, "PIN", PIN),
        number=getattr(module, "CARD", None),
    )


@pytest.fixture
def items(db):
    """A small menu: a latte, a cake and a gift box in two categories."""
    coffee = Category.objects.create(name="Coffee", sort_order=1)
    treats = Category.objects.create(name="Treats", sort_order=2)
    return {
        "latte": Item.objects.create(category=coffee, name="Latte", price=Decimal("4.50")),
        "cake": Item.objects.create(category=treats, name="Cake", price=Decimal("6.00")),
        "box": Item.objects.create(category=treats, name="Gift box", price=Decimal("40.00")),
    }


@pytest.fixture
def viewer(db):
    """Staff who may only look at transactions."""
    return make_staff("viewer", "view_ecardtransaction")


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in the default language: a guest page in Spanish leaves Spanish active
    in the thread (LocaleMiddleware activates it per request and never resets it), and a later
    test calling a service directly would read its messages in Spanish."""
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()


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
