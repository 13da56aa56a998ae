"""The evidence export job and the operations dashboard at a chain's scale (issue 16).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_exports \\
        .venv/bin/python -m bench.export_job [--rows 2000000] [--export-days 20] [--keep]

Fills its own PostgreSQL database (created if missing; never `test`) with `--rows` transactions
over the last year, each with one exchange (a second on one in ten), by `generate_series` SQL,
then:

- the request: an export job asked for through the admin (Django's test client, logged in),
  timed and its queries counted;
- the job: `exports.write` in a child process for a quarter of `--export-days` days, then for
  all of them, each child reporting rows/s (wall, and per second of its own CPU: the machine may
  be shared) and its peak RSS (`resource.getrusage`): the same peak for both sizes is memory
  flat;
- the dashboard: the page's server time (p50 of 5) and the plan of each of its three statements.

Figures go to stdout; docs/performance.md ("Evidence export job") holds a run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import timedelta

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FILL = """
INSERT INTO ecard_integration_ecardtransaction (
    request_id, kind, state, source, store_id, terminal_id, caller_reference, caller_intent,
    card_ciphertext, card_hash, card_last4, amount, currency, created_at, first_sent_at,
    completed_at, attempts, request_sha256, response_code, response_message, approval_code,
    processor_transaction_id, amount_applied, balance, error_code, attention_reason, reason)
SELECT
    'bench-' || g,
    CASE WHEN g % 20 = 0 THEN 'balance-inquiry' WHEN g % 50 = 1 THEN 'load' ELSE 'redeem' END,
    CASE WHEN g % 10 = 3 THEN 'declined' WHEN g % 97 = 5 THEN 'voided'
         WHEN g % 5000 = 7 THEN 'needs_attention' ELSE 'approved' END,
    (ARRAY['kiosk', 'online', 'staff'])[1 + g % 3],
    'store-' || (g % 12), 'T' || (g % 40), 'ORDER' || g, 'keep',
    '\\x00'::bytea, md5((g % 400000)::text) || md5('h' || (g % 400000)), lpad((g % 10000)::text, 4, '0'),
    (1 + g % 60)::numeric(9, 2), 'USD',
    now() - (g::float / {rows}) * interval '365 days',
    now() - (g::float / {rows}) * interval '365 days',
    now() - (g::float / {rows}) * interval '365 days' + interval '300 ms',
    1, md5(g::text) || md5(g::text),
    CASE WHEN g % 10 = 3 THEN (ARRAY['51', '55', '75'])[1 + g % 3] ELSE '00' END,
    '', 'A' || g, 'P' || g, (1 + g % 60)::numeric(9, 2), 100.00, '', '', ''
FROM generate_series(1, {rows}) AS g
"""
EXCHANGES = """
INSERT INTO ecard_integration_ecardexchange (
    transaction_id, kind, endpoint, request_id, url, started_at, duration_ms, request_headers,
    request_body, request_sha256, response_status, response_headers, response_body, error,
    idempotent_replay, is_reconciliation)
SELECT t.id, 'transaction', t.kind, t.request_id,
    'https://sandbox.example/api/transaction/v1/' || t.kind, t.created_at + n * interval '1 s',
    40 + (t.id * 7919 + n) % 400,
    jsonb_build_object('Content-Type', 'application/json', 'X-Request-Id', t.request_id,
        'Authorization', 'Bearer [redacted]'),
    '{"data":{"type":"' || t.kind || '","attributes":{"card_number":"•••• ' || t.card_last4
        || '","pin":"[redacted]","amount":"' || t.amount || '","currency":"USD","store_id":"'
        || t.store_id || '","terminal_id":"' || t.terminal_id || '"}}}',
    t.request_sha256, CASE WHEN t.id % 400 = 0 THEN 503 ELSE 200 END,
    jsonb_build_object('Content-Type', 'application/json', 'X-Request-Id', t.request_id),
    '{"data":{"type":"' || t.kind || '","attributes":{"response_code":"' || t.response_code
        || '","approval_code":"' || t.approval_code || '","balance":"100.00"}}}',
    '', false, n = 1
FROM ecard_integration_ecardtransaction t, generate_series(0, 1) AS n
WHERE t.request_id LIKE 'bench-%' AND (n = 0 OR t.id % 10 = 0)
"""


def _setup(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("EVIDENCE_EXPORT_DIR", os.path.join(ROOT, "var", "bench-exports"))
    import django

    django.setup()


def _create_database(database_url: str) -> None:
    import psycopg

    base, _, name = database_url.rpartition("/")
    if name in ("test", "postgres", ""):
        raise SystemExit(f"refusing to fill the database {name!r}: name one of its own")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def fill(rows: int) -> None:
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM ecard_integration_ecardtransaction")
        if cursor.fetchone()[0] >= rows:
            print(f"fill: {rows:,} rows already there", flush=True)
            return
        began = time.monotonic()
        cursor.execute("TRUNCATE ecard_integration_ecardtransaction CASCADE")
        cursor.execute(FILL.replace("{rows}", str(rows)))
        cursor.execute(EXCHANGES)
        cursor.execute("VACUUM ANALYZE ecard_integration_ecardtransaction")
        cursor.execute("VACUUM ANALYZE ecard_integration_ecardexchange")
    print(f"fill: {rows:,} transactions in {time.monotonic() - began:.0f} s", flush=True)


def _staff():
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(
        username="bench-exports", defaults={"is_staff": True, "is_superuser": True}
    )
    return user


def measure_request(days: int) -> dict:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse
    from django.utils import timezone

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(_staff())
    today = timezone.localdate()
    data = {"date_from": (today - timedelta(days=days)).isoformat(), "date_to": today.isoformat()}
    timings = []
    for _ in range(5):
        with CaptureQueriesContext(connection) as captured:
            began = time.perf_counter()
            response = client.post(reverse("admin:ecard_integration_evidenceexport_add"), data)
            timings.append(time.perf_counter() - began)
        assert response.status_code == 303, response.status_code
    return {"request_ms_p50": statistics.median(timings) * 1000, "queries": len(captured)}


def run_job(days: int) -> dict:
    """One job written in this process: rows/s and this process's peak RSS."""
    import resource

    from django.utils import timezone

    from ecard_integration import exports
    from ecard_integration.models import EvidenceExport

    today = timezone.localdate()
    job = EvidenceExport.objects.create(
        requested_by=_staff(), date_from=today - timedelta(days=days - 1), date_to=today
    )
    usage = resource.getrusage(resource.RUSAGE_SELF)
    before, cpu_before = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
    began = time.perf_counter()
    state = exports.write(job.pk)
    seconds = time.perf_counter() - began
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime - cpu_before
    job.refresh_from_db()
    path = exports.file_path(job)
    result = {
        "days": days,
        "state": state,
        "rows": job.rows_written,
        "seconds": round(seconds, 1),
        "rows_per_second": round(job.rows_written / seconds),
        # The writer's own CPU: what it sustains given a core (the machine is shared).
        "cpu_seconds": round(cpu, 1),
        "rows_per_cpu_second": round(job.rows_written / cpu),
        "zip_mb": round(job.file_size / 1e6, 1),
        "rss_before_mb": round(before / 1024, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    path.unlink()
    return result


def measure_dashboard() -> dict:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(_staff())
    url = reverse("operations_dashboard")
    client.get(url)
    timings = []
    for _ in range(5):
        with CaptureQueriesContext(connection) as captured:
            began = time.perf_counter()
            assert client.get(url).status_code == 200
            timings.append(time.perf_counter() - began)
    plans = {}
    statements = [q["sql"] for q in captured.captured_queries if "ecard_integration_" in q["sql"]]
    for sql in statements:
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)
            plan = cursor.fetchone()[0][0]
        plans[f"{len(plans) + 1}: {sql[:50]}"] = {
            "ms": round(plan["Execution Time"], 1),
            "nodes": _nodes(plan["Plan"]),
        }
    return {"page_ms_p50": round(statistics.median(timings) * 1000), "statements": plans}


def _nodes(plan: dict) -> list[str]:
    found = [f"{plan['Node Type']} {plan.get('Index Name', plan.get('Relation Name', ''))}".strip()]
    for child in plan.get("Plans", []):
        found += _nodes(child)
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.export_job", description=__doc__)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--export-days", type=int, default=20)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith("postgres"):
        raise SystemExit("set DATABASE_URL to a PostgreSQL database of the bench's own")
    if args.child:
        _setup(database_url)
        print(json.dumps(run_job(args.child)))
        return 0
    _create_database(database_url)
    _setup(database_url)
    fill(args.rows)
    print("request:", measure_request(args.export_days), flush=True)
    for days in (max(1, args.export_days // 4), args.export_days):
        child = subprocess.run(
            [sys.executable, "-m", "bench.export_job", "--child", str(days)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        print("job:", child.stdout.strip().splitlines()[-1], flush=True)
    print("dashboard:", json.dumps(measure_dashboard(), indent=2), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
