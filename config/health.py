"""`/healthz`: the state of every component the system needs, as JSON; 200 only when all are ok."""

import logging
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from config.celery import app as celery_app

logger = logging.getLogger(__name__)


def check_database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"ok": True, "vendor": connection.vendor}


def check_cache() -> dict:
    key = f"healthz:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=10)
    ok = cache.get(key) == "1"
    cache.delete(key)
    return {"ok": ok}


def check_broker() -> dict:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        transport = conn.transport_cls
    return {"ok": True, "transport": str(transport)}


def check_worker() -> dict:
    replies = celery_app.control.ping(timeout=1.0)
    return {"ok": bool(replies), "workers": len(replies)}


def check_reconciliation() -> dict:
    from ecard_integration.selectors import reconciliation_lag_seconds

    lag = reconciliation_lag_seconds()
    return {
        "ok": lag <= settings.HEALTH_RECONCILIATION_LAG_SECONDS,
        "oldest_due_seconds": round(lag, 1),
    }


def check_clock() -> dict:
    """How far eCard's clock is from ours, as its answers show it (ecard_integration/clock.py).

    Unknown (nothing measured lately: a quiet night, a fresh start) is ok: reconciliation already
    refuses to replay rows near their deadline without a measurement, and a health check that
    failed for want of traffic would page staff for nothing. Off by more than
    `ECARD_CLOCK_SKEW_DEGRADED_SECONDS`, either way, is degraded: eCard or we keep the wrong time
    (with eCard ahead, replay deadlines are being shortened to match).
    """
    from ecard_integration import clock

    sample = clock.latest()
    if sample is None:
        return {"ok": True, "status": "unknown", "offset_seconds": None, "age_seconds": None}
    ok = abs(sample.offset_seconds) <= settings.ECARD_CLOCK_SKEW_DEGRADED_SECONDS
    return {
        "ok": ok,
        "status": "ok" if ok else "degraded",
        "offset_seconds": round(sample.offset_seconds, 1),
        "age_seconds": round(sample.age_seconds(), 1),
    }


CHECKS = {
    "database": check_database,
    "cache": check_cache,
    "broker": check_broker,
    "worker": check_worker,
    "reconciliation": check_reconciliation,
    "clock": check_clock,
}


@never_cache
def healthz(request):
    components = {}
    for name, check in CHECKS.items():
        try:
            components[name] = check()
        except Exception as exc:  # noqa: BLE001 - any failure is a component down, not a crash
            logger.warning("health check %s failed: %s", name, type(exc).__name__)
            components[name] = {"ok": False, "error": type(exc).__name__}
    healthy = all(component["ok"] for component in components.values())
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "components": components},
        status=200 if healthy else 503,
    )
