"""G. A chain's year: every staff page and every periodic query on millions of rows.

Its own stack on its own PostgreSQL database (`bench_scale`, or `bench_scale_quick` for
`--quick`), kept between runs: filled once by `g_fill` (≥ 2 M transactions and exchanges, 1 M
orders and tenders in the full run), migrated on every start (so a new index is built on the
filled tables, as a deployment would). Then, as a logged-in superuser over HTTP on gunicorn:
every staff list with and without each filter and search, the detail pages, the needs-attention
view, the lockouts page and `/healthz`, p50 of `repeat` requests after one warm-up. Every SQL
statement each page runs is captured in-process (the same admin view through Django's test
client) and run again under `EXPLAIN (ANALYZE, BUFFERS)`: its plan's scans (Index Scan / Seq Scan
on which table) and the buffers it touched, a count that does not depend on the machine's load.
The periodic queries (the beat sweeps' and the health check's) are timed and explained the same
way, in the bench process.

Run alone: `python -m bench --only G` (add `--quick` for the small fill).
"""

from __future__ import annotations

import json
import os
import secrets
import statistics
import time
from datetime import timedelta
from urllib.parse import quote, urlencode

from bench.scenarios import g_fill

DATABASE = os.environ.get("BENCH_SCALE_DATABASE", "bench_scale")
LIST_GOAL_MS = 150
PERIODIC_GOAL_MS = 5
BIG_TABLES = set(g_fill.TABLES)
ADMIN = "scale-admin"
DAILY = "daily pass: "


def _database(cfg) -> str:
    return DATABASE if cfg.mode == "full" else f"{DATABASE}_quick"


def _drop_if_short(name: str, transactions: int) -> None:
    """Keep a filled database of the right size; drop one that is too small (refilled below)."""
    import psycopg

    from bench.stack import POSTGRES_URL

    try:
        with psycopg.connect(f"{POSTGRES_URL}/{name}", autocommit=True) as conn:
            found = conn.execute(
                "SELECT reltuples FROM pg_class WHERE relname = %s",
                ["ecard_integration_ecardtransaction"],
            ).fetchone()
    except psycopg.OperationalError:
        return  # no such database yet
    if found and found[0] >= transactions * 0.9:
        return
    with psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- What is measured ---------------------------------------------------------------------------


def _samples(conn) -> dict:
    """Real values to search and open: a recent transaction, its card, order and exchange."""
    row = conn.execute(
        "SELECT t.id, t.request_id, t.card_last4, t.caller_reference, t.store_id, o.id, d.id "
        "FROM ecard_integration_ecardtransaction t "
        "JOIN ordering_tender d ON d.transaction_id = t.id JOIN ordering_order o ON o.id = d.order_id "
        "WHERE t.state = 'approved' ORDER BY t.id DESC LIMIT 1"
    ).fetchone()
    keys = ("transaction", "request_id", "last4", "order_number", "store_id", "order", "tender")
    found = dict(zip(keys, row, strict=True))
    found["exchange"] = conn.execute(
        "SELECT id FROM ecard_integration_ecardexchange WHERE transaction_id = %s",
        [found["transaction"]],
    ).fetchone()[0]
    found["store_pk"] = conn.execute(
        "SELECT id FROM ordering_store WHERE ecard_store_id = %s", [found["store_id"]]
    ).fetchone()[0]
    return found


def _week(field: str) -> str:
    """The admin date filter's "Past 7 days", as its link writes it."""
    from django.utils import timezone

    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    return urlencode(
        {f"{field}__gte": str(today - timedelta(days=7)), f"{field}__lt": str(today + timedelta(1))}
    )


def pages(s: dict) -> list[tuple[str, str, bool]]:
    """(name, path, is a list page) for every staff page measured."""
    tx = "/admin/ecard_integration/ecardtransaction/"
    ex = "/admin/ecard_integration/ecardexchange/"
    orders = "/admin/ordering/order/"
    tenders = "/admin/ordering/tender/"
    lists = [
        ("transactions", tx),
        ("transactions: state declined", tx + "?state__exact=declined"),
        ("transactions: kind load", tx + "?kind__exact=load"),
        ("transactions: source kiosk", tx + "?source__exact=kiosk"),
        ("transactions: store", tx + "?store_id__exact=" + quote(s["store_id"])),
        ("transactions: past 7 days", tx + "?" + _week("created_at")),
        ("transactions: needs attention", tx + "?attention=yes"),
        ("transactions: search request id", tx + "?q=" + quote(s["request_id"])),
        ("transactions: search last four", tx + "?q=" + s["last4"]),
        ("transactions: search order number", tx + "?q=" + s["order_number"]),
        ("exchanges", ex),
        ("exchanges: kind token", ex + "?kind__exact=token"),
        ("exchanges: endpoint redeem", ex + "?endpoint__exact=redeem"),
        ("exchanges: status 400", ex + "?response_status__exact=400"),
        ("exchanges: reconciliation", ex + "?is_reconciliation__exact=1"),
        ("exchanges: search request id", ex + "?q=" + quote(s["request_id"])),
        ("orders", orders),
        ("orders: status paid", orders + "?status__exact=paid"),
        ("orders: store", orders + f"?store__id__exact={s['store_pk']}"),
        ("orders: past 7 days", orders + "?" + _week("created_at")),
        ("orders: search number", orders + "?q=" + s["order_number"]),
        ("orders: search last four", orders + "?q=" + s["last4"]),
        ("tenders", tenders),
        ("tenders: status declined", tenders + "?status__exact=declined"),
        ("tenders: search last four", tenders + "?q=" + s["last4"]),
    ]
    details = [
        ("transaction detail", f"{tx}{s['transaction']}/change/"),
        ("exchange detail", f"{ex}{s['exchange']}/change/"),
        ("order detail", f"{orders}{s['order']}/change/"),
        ("tender detail", f"{tenders}{s['tender']}/change/"),
        ("kiosk PIN lockouts", "/admin/kiosk/kiosk/lockouts/"),
        ("/healthz", "/healthz"),
    ]
    return [(n, p, True) for n, p in lists] + [(n, p, False) for n, p in details]


def periodic() -> list[tuple[str, object]]:
    """(name, call) for every query the beat sweeps and the health check run (DAILY: those run
    once a day, reported but not held to the 5 ms of the ones run every 15 s or minute)."""
    from django.conf import settings

    from ecard_integration import reconciliation, selectors
    from ordering import selectors as ordering_selectors
    from ordering.services.cancellation import VOIDS_LOOKED_BACK_SECONDS as VOIDS_LOOKED_BACK

    def owed():
        return list(ordering_selectors.orders_owing_receipts()[:100])

    def stale():
        cutoff = -settings.ORDER_CHECKOUT_TIMEOUT_SECONDS
        return list(ordering_selectors.stale_checkouts(cutoff))

    return [
        ("due_transaction_ids (every 15 s)", reconciliation.due_transaction_ids),
        ("abandoned_approved_ids (every 15 s)", reconciliation.abandoned_approved_ids),
        ("reconciliation_lag_seconds (/healthz)", selectors.reconciliation_lag_seconds),
        ("attention_summary (transaction list)", selectors.attention_summary),
        (
            "order sweep: paying / payment pending",
            lambda: list(ordering_selectors.orders_awaiting_payment()),
        ),
        (
            "order sweep: paid, payment voided since",
            lambda: list(
                ordering_selectors.paid_orders_voided_since(within_seconds=VOIDS_LOOKED_BACK)
            ),
        ),
        ("order sweep: stale checkouts", stale),
        (
            "order sweep: released tenders not given up",
            lambda: list(ordering_selectors.released_tenders_not_given_up()),
        ),
        ("order sweep: receipts owed", owed),
        (
            DAILY + "every paid order whose payment was voided",
            lambda: list(ordering_selectors.paid_orders_voided_since()),
        ),
    ]


# --- Plans --------------------------------------------------------------------------------------


# Rows per big table (pg_class.reltuples), read once per run: a sequential scan is FULL when it
# read at least half of its table (one stopped early by a LIMIT, as a capped count's, is not).
TABLE_ROWS: dict[str, float] = {}


def _scans(node: dict, out: list[str]) -> None:
    kind = node.get("Node Type", "")
    if "Scan" in kind and ("Relation Name" in node or "Index Name" in node):
        relation = node.get("Relation Name", "")
        index = node.get("Index Name", "")
        direction = " Backward" if node.get("Scan Direction") == "Backward" else ""
        short = relation.removeprefix("ecard_integration_").removeprefix("ordering_")
        label = f"{kind}{direction}" + (f" on {short}" if short else "")
        label += f" using {index}" if index else ""
        read = (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)) * node.get(
            "Actual Loops", 1
        )
        if relation in BIG_TABLES or not relation:
            label += f" ({read:,.0f} rows)"
        whole = TABLE_ROWS.get(relation, float("inf"))
        if kind == "Seq Scan" and relation in BIG_TABLES and read >= 0.5 * whole:
            label = "FULL " + label
        out.append(label)
    for child in node.get("Plans", []):
        _scans(child, out)


def explain(cursor, sql: str) -> dict:
    """One statement's plan shape and the buffers it touched (EXPLAIN ANALYZE, BUFFERS)."""
    cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql)
    document = cursor.fetchone()[0]
    plan = (document if isinstance(document, list) else json.loads(document))[0]
    top = plan["Plan"]
    scans: list[str] = []
    _scans(top, scans)
    return {
        "sql": sql[:160],
        "scans": scans,
        "buffers": top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0),
        "ms": round(plan.get("Execution Time", 0.0), 2),
        "full_scan": any(scan.startswith("FULL") for scan in scans),
    }


def _explained(queries: list[dict]) -> list[dict]:
    from django.db import connection

    out = []
    with connection.cursor() as cursor:
        for query in queries:
            sql = query["sql"]
            if not sql.lstrip().upper().startswith(("SELECT", "WITH")):
                continue
            if "django_session" in sql or '"auth_' in sql or "django_content_type" in sql:
                continue  # the login's own reads: the same on every page
            try:
                out.append(explain(cursor, sql))
            except Exception as exc:  # noqa: BLE001 - a plan we cannot get is reported, not fatal
                out.append({"sql": sql[:160], "error": str(exc)[:120], "scans": []})
    return out


def _in_process(path: str, user) -> tuple[int, list[dict]]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1", HTTP_X_FORWARDED_PROTO="https")
    client.force_login(user)
    with CaptureQueriesContext(connection) as captured:
        status = client.get(path, secure=True).status_code
    return status, _explained(captured.captured_queries)


# --- The run ------------------------------------------------------------------------------------


def _login(stack, password: str):
    guest = stack.guest()
    guest.get("/admin/login/")
    done = guest.post(
        "/admin/login/?next=/admin/",
        {"username": ADMIN, "password": password, "next": "/admin/"},
    )
    if done.status != 302:
        raise RuntimeError(f"admin login answered {done.status}")
    return guest


def _time(guest, path: str, repeat: int) -> dict:
    first = guest.get(path)
    times = []
    for _ in range(repeat):
        response = guest.get(path)
        times.append(response.seconds * 1000)
    return {
        "status": first.status,
        "p50_ms": round(statistics.median(times), 1),
        "bytes": len(first.body),
    }


def measure(stack, repeat: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    user_model = get_user_model()
    password = secrets.token_urlsafe(16)
    user = user_model.objects.filter(username=ADMIN).first() or user_model(username=ADMIN)
    user.is_staff = user.is_superuser = True
    user.set_password(password)
    user.save()

    with stack.connect() as conn:
        for table, rows in conn.execute(
            "SELECT relname, reltuples FROM pg_class WHERE relname = ANY(%s)", [list(BIG_TABLES)]
        ):
            TABLE_ROWS[table] = rows
        # The year's last few redeems are still being reconciled, their next look a little
        # ahead (the fill's own "now" may be days old): /healthz then reports no lag.
        conn.execute(
            "UPDATE ecard_integration_ecardtransaction SET next_attempt_at = now() + interval"
            " '10 minutes' WHERE state IN ('created', 'unknown')"
        )
        samples = _samples(conn)
        sizes = g_fill.counts(conn)
    guest = _login(stack, password)
    measured: dict[str, dict] = {}
    for name, path, is_list in pages(samples):
        figures = _time(guest, path, repeat)
        status, plans = _in_process(path, user)
        figures.update(
            path=path,
            list=is_list,
            queries=len(plans),
            plans=plans,
            full_scans=sum(1 for plan in plans if plan.get("full_scan")),
        )
        if status != figures["status"]:
            figures["in_process_status"] = status
        measured[name] = figures
        print(
            f"    G {name}: {figures['status']} p50 {figures['p50_ms']:.0f} ms, "
            f"{figures['full_scans']} full scan(s)",
            flush=True,
        )

    queries: dict[str, dict] = {}
    for name, call in periodic():
        call()  # warm
        times = []
        for _ in range(repeat):
            began = time.perf_counter()
            call()
            times.append((time.perf_counter() - began) * 1000)
        with CaptureQueriesContext(connection) as captured:
            call()
        plans = _explained(captured.captured_queries)
        queries[name] = {
            "p50_ms": round(statistics.median(times), 2),
            "plans": plans,
            "buffers": sum(plan.get("buffers", 0) for plan in plans),
            "full_scans": sum(1 for plan in plans if plan.get("full_scan")),
        }
        print(f"    G {name}: p50 {queries[name]['p50_ms']:.1f} ms", flush=True)
    return {"rows": sizes, "pages": measured, "periodic": queries}


def run(cfg) -> dict:
    from bench.stack import Stack

    name = _database(cfg)
    _drop_if_short(name, cfg.g_transactions)
    began = time.monotonic()
    with Stack(
        web_workers=cfg.web_workers,
        web_threads=cfg.web_threads,
        worker_concurrency=1,
        token_lifetime=cfg.token_lifetime,
        database=name,
        keep_database=True,
    ) as stack:
        started = round(time.monotonic() - began, 1)  # includes migrating the filled tables
        fill_seconds = {}
        with stack.connect() as conn:
            if not g_fill.filled(conn, cfg.g_transactions):
                fill_seconds = g_fill.fill(conn, cfg.g_transactions)
        result = measure(stack, cfg.g_repeat)
    lists = [p for p in result["pages"].values() if p["list"]]
    ok = [p for p in lists if p["status"] == 200]
    result.update(
        database=name,
        stack_start_s=started,
        fill_s=fill_seconds,
        goal={"list_p50_ms": LIST_GOAL_MS, "periodic_ms": PERIODIC_GOAL_MS},
        met={
            "lists": len(ok) == len(lists) and all(p["p50_ms"] <= LIST_GOAL_MS for p in ok),
            "periodic": all(
                q["p50_ms"] <= PERIODIC_GOAL_MS and not q["full_scans"]
                for name, q in result["periodic"].items()
                if not name.startswith(DAILY)
            ),
        },
    )
    return result
