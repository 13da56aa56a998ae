"""/healthz reports every component and answers 503 when one is down; the database check is a
write, bounded in time (a database that refuses writes, holds a lock or is frozen fails fast)."""

import contextlib
import os
import signal
import socket
import sqlite3
import time
from pathlib import Path

import pytest
from django.db import connection, connections

from config import health
from config.models import Heartbeat
from tests import processes
from tests.processes import PostgresCluster

TIMEOUT = 1.0


@pytest.fixture
def short_timeout(settings):
    settings.HEALTH_DATABASE_TIMEOUT_SECONDS = TIMEOUT


def wait_for_database_ok(using="default", timeout=15.0) -> None:
    """The check recovers once the database does (and the stuck probe has come back)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if health.check_database(using)["ok"]:
            return
        time.sleep(0.1)
    raise AssertionError(f"database check still failing after {timeout} s")


def timed_healthz(client):
    started = time.monotonic()
    response = client.get("/healthz")
    return response, time.monotonic() - started


@pytest.mark.django_db(transaction=True)
def test_it_reports_each_component(client):
    response = client.get("/healthz")
    body = response.json()
    assert set(body["components"]) == {
        "database",
        "cache",
        "broker",
        "worker",
        "reconciliation",
        "clock",
    }
    assert body["components"]["database"]["ok"] is True
    assert body["components"]["cache"]["ok"] is True
    assert body["components"]["broker"]["ok"] is True
    assert body["components"]["reconciliation"]["ok"] is True
    # No worker runs in this test: the page must say so, with 503.
    assert body["components"]["worker"]["ok"] is False
    assert response.status_code == 503
    assert response["Cache-Control"].startswith("max-age=0")
    # The database check wrote its heartbeat.
    assert Heartbeat.objects.filter(name=socket.gethostname()).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_database_that_refuses_writes_is_a_503(client, short_timeout):
    name = connection.settings_dict["NAME"]
    with connection.cursor() as cursor:
        # New sessions (the check's own connection) are read-only; this one is not.
        cursor.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    try:
        response, elapsed = timed_healthz(client)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
    assert response.status_code == 503
    database = response.json()["components"]["database"]
    assert database["ok"] is False
    assert database["error"]
    assert elapsed < TIMEOUT + 2
    wait_for_database_ok()


def hold_heartbeat_lock():
    """Another connection that holds the lock the heartbeat write needs, and never lets go."""
    if connection.vendor == "postgresql":
        import psycopg

        other = psycopg.connect(
            processes.test_database_url().replace("postgres://", "postgresql://")
        )
        other.execute(
            "INSERT INTO config_heartbeat (name, beat_at) VALUES (%s, now()) "
            "ON CONFLICT (name) DO UPDATE SET beat_at = now()",
            [socket.gethostname()[:100]],
        )  # inside an open transaction: the row stays locked
        return other
    other = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # SQLite: the whole database locked for writing
    return other


@pytest.mark.django_db(transaction=True)
def test_a_locked_heartbeat_fails_within_the_timeout_instead_of_hanging(client, short_timeout):
    other = hold_heartbeat_lock()
    try:
        started = time.monotonic()
        database = health.check_database()
        elapsed = time.monotonic() - started
        if connection.vendor == "postgresql":
            # The whole page too (on SQLite the database cache waits on the same lock, 20 s).
            response, page_elapsed = timed_healthz(client)
    finally:
        other.rollback() if connection.vendor == "postgresql" else other.execute("ROLLBACK")
        other.close()
    assert database["ok"] is False
    assert elapsed < TIMEOUT + 1, elapsed
    if connection.vendor == "postgresql":
        assert response.status_code == 503
        assert response.json()["components"]["database"]["ok"] is False
        assert page_elapsed < TIMEOUT + 2, page_elapsed
    wait_for_database_ok()


def postgres_processes(cluster: PostgresCluster) -> list[int]:
    """The cluster's postmaster and every backend it forked."""
    postmaster = int((cluster.data_dir / "postmaster.pid").read_text().split()[0])
    children = [
        int(entry.name)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and _parent_of(entry) == postmaster
    ]
    return [postmaster, *children]


def signal_all(pids: list[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # a backend that had just exited
            os.kill(pid, signum)


def _parent_of(proc: Path) -> int | None:
    try:
        return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


@pytest.mark.postgres
@pytest.mark.skipif(not PostgresCluster.available(), reason="needs PostgreSQL's server binaries")
def test_a_frozen_database_fails_within_the_timeout_and_probes_do_not_pile_up(
    tmp_path, short_timeout, django_db_blocker
):
    # A private cluster under its own alias (not a test database: nothing to isolate there).
    with PostgresCluster(tmp_path) as cluster, django_db_blocker.unblock():
        cluster.create_database("frozen")
        connections.settings["frozen"] = {
            **connections.settings["default"],
            "NAME": "frozen",
            "USER": "postgres",
            "PASSWORD": "",
            "HOST": "127.0.0.1",
            "PORT": str(cluster.port),
        }
        stopped: list[int] = []
        try:
            with connections["frozen"].schema_editor() as editor:
                editor.create_model(Heartbeat)
            connections["frozen"].close()
            assert health.check_database("frozen")["ok"] is True

            stopped = postgres_processes(cluster)
            signal_all(stopped, signal.SIGSTOP)  # the server never answers, sockets stay open
            started = time.monotonic()
            first = health.check_database("frozen")
            assert time.monotonic() - started < TIMEOUT + 1
            assert first["ok"] is False
            assert "no answer" in first["error"]
            # The first probe is still stuck: the next check says so at once.
            started = time.monotonic()
            second = health.check_database("frozen")
            assert time.monotonic() - started < 0.5
            assert second["ok"] is False

            signal_all(stopped, signal.SIGCONT)
            stopped = []
            wait_for_database_ok("frozen")
        finally:
            signal_all(stopped, signal.SIGCONT)
            connections["frozen"].close()
            del connections.settings["frozen"]


CARD_BALANCE = "50.00"  # of the `card` fixture (tests/conftest.py)
PIN = "7315"  # the `card` fixture's PIN


def ecard_answers(card):
    from ecard_integration import services
    from ecard_integration.models import Source

    services.balance_inquiry(card_number=card, pin="7315", source=Source.KIOSK)


@pytest.mark.django_db(transaction=True)
def test_the_clock_is_unknown_and_ok_before_ecard_has_answered(client, sandbox):
    clock = client.get("/healthz").json()["components"]["clock"]
    assert clock == {"ok": True, "status": "unknown", "offset_seconds": None, "age_seconds": None}


@pytest.mark.django_db(transaction=True)
def test_the_clock_is_ok_when_ecard_is_in_step(client, sandbox, card):
    ecard_answers(card)
    clock = client.get("/healthz").json()["components"]["clock"]
    assert clock["ok"] is True
    assert clock["status"] == "ok"
    assert abs(clock["offset_seconds"]) < 5
    assert 0 <= clock["age_seconds"] < 30


@pytest.mark.django_db(transaction=True)
def test_the_clock_is_degraded_when_ecard_runs_ahead(client, sandbox, card, settings):
    sandbox.advance_clock(settings.ECARD_CLOCK_SKEW_DEGRADED_SECONDS + 240)
    ecard_answers(card)
    response = client.get("/healthz")
    clock = response.json()["components"]["clock"]
    assert clock["ok"] is False
    assert clock["status"] == "degraded"
    assert abs(clock["offset_seconds"] - settings.ECARD_CLOCK_SKEW_DEGRADED_SECONDS - 240) < 5
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
