"""`/healthz`: the state of every component the system needs, as JSON; 200 only when all are ok.

The components (database vendor, broker transport, worker count, reconciliation lag) and the
certified-build fingerprint (`build`: ecard_integration/fingerprint.py) are told only to loopback
and to `HEALTHZ_DETAIL_ALLOW`; anyone else gets the bare status with the same code. The build sits
in the details because it is for operators: it names exactly which code runs, which a stranger
has no use for. It is not a component: a build eCard did not certify still serves (the status
stays ok); it is a compliance matter for the operator, who sees it here and on the admin index.
"""

import ipaddress
import logging
import socket
import threading
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models.functions import Now
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from config.celery import app as celery_app
from config.security import client_ip

logger = logging.getLogger(__name__)


def check_database(using: str = DEFAULT_DB_ALIAS) -> dict:
    """The database takes a write (the heartbeat row upserted) within the timeout.

    `SELECT 1` passes on a database that refuses every write (read-only, disk full) and hangs on
    one that is frozen (no answer at all, where a server-side timeout never fires). So the write
    runs in a thread of its own with a fresh connection, and the answer is awaited only so long;
    on PostgreSQL the statement also carries a server-side timeout, so a lock wait ends there too.
    """
    global _database_probe
    timeout = settings.HEALTH_DATABASE_TIMEOUT_SECONDS
    vendor = connections[using].vendor
    with _database_probe_lock:
        if _database_probe is not None and _database_probe.is_alive():
            # A probe that never came back is still waiting: do not pile up threads on it.
            return {"ok": False, "vendor": vendor, "error": "no answer to the previous check"}
        result: dict = {}
        probe = threading.Thread(
            target=_write_heartbeat, args=(using, timeout, result), name="healthz-database"
        )
        probe.daemon = True
        _database_probe = probe
        probe.start()
    probe.join(timeout)
    if probe.is_alive():
        return {"ok": False, "vendor": vendor, "error": f"no answer within {timeout:g} s"}
    if "error" in result:
        return {"ok": False, "vendor": vendor, "error": result["error"]}
    return {"ok": True, "vendor": vendor}


_database_probe: threading.Thread | None = None
_database_probe_lock = threading.Lock()


def _write_heartbeat(using: str, timeout: float, result: dict) -> None:
    from config.models import Heartbeat

    connection = connections[using]  # this thread's own connection
    try:
        with transaction.atomic(using=using):
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT set_config('statement_timeout', %s, true)",
                        [f"{int(timeout * 1000)}"],
                    )
            Heartbeat.objects.using(using).bulk_create(
                # The database's clock, one statement (INSERT … ON CONFLICT DO UPDATE).
                [Heartbeat(name=socket.gethostname()[:100], beat_at=Now())],
                update_conflicts=True,
                unique_fields=["name"],
                update_fields=["beat_at"],
            )
    except Exception as exc:  # noqa: BLE001 - any failure is the database down, not a crash
        result["error"] = type(exc).__name__
        logger.warning("health check database write failed: %s", exc)
    finally:
        # A connection kept by this short-lived thread would never be reused nor closed.
        connection.close()


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


def _build() -> dict:
    from ecard_integration.fingerprint import current_build

    try:
        return current_build().as_dict()
    except OSError as exc:  # a source file unreadable: say so, the health answer still stands
        return {"status": "unknown", "error": type(exc).__name__}


def may_see_details(request) -> bool:
    """Loopback or an address in `HEALTHZ_DETAIL_ALLOW`, as the trusted-proxy rules find it.

    Behind `TRUSTED_PROXY_COUNT` proxies the address is the one the proxies saw (client_ip), so a
    loopback proxy does not make every guest loopback. A forwarded chain shorter than the proxies
    is refused: its leftmost entry, which client_ip would fall back to, is the client's own words.
    """
    forwarded = [p for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if p.strip()]
    if 0 < len(forwarded) < settings.TRUSTED_PROXY_COUNT:
        return False
    try:
        address = ipaddress.ip_address(client_ip(request))
    except ValueError:
        return False
    if getattr(address, "ipv4_mapped", None):
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if address.is_loopback:
        return True
    return any(
        address in ipaddress.ip_network(cidr, strict=False)
        for cidr in settings.HEALTHZ_DETAIL_ALLOW
    )


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
    body = {"status": "ok" if healthy else "unavailable"}
    if may_see_details(request):
        body["components"] = components
        # Operators' information, not a component: a build eCard did not certify still serves.
        body["build"] = _build()
    return JsonResponse(body, status=200 if healthy else 503)
