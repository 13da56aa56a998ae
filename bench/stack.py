"""Start and stop everything the bench measures, on the production configuration.

One `Stack`: a fresh PostgreSQL database (`bench`), Redis database 5 (flushed), a local eCard
sandbox (own temporary state dir and credentials), migrations, the demo menu, gunicorn with
`config/gunicorn.conf.py` and a Celery worker, all with `DEBUG=0` and freshly drawn secrets, on
`bench.settings` (production's settings plus the baseline views of scenario A and their table).
The bench process itself loads Django with the same environment, to prepare data, to run the raw
client side by side, and to count queries.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from bench import procstat
from bench.web import Guest

ROOT = Path(__file__).resolve().parent.parent
LOG_DIR = ROOT / "var" / "bench"
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")
DATABASE = os.environ.get("BENCH_DATABASE", "bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/5")
CLIENT_ID = "bench-client"


class StackError(RuntimeError):
    """A component did not start."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port or default_port), timeout=2):
            return True
    except OSError:
        return False


class Stack:
    def __init__(
        self,
        *,
        web_workers: int,
        web_threads: int,
        worker_concurrency: int,
        token_lifetime: int,
        worker_class: str = "gthread",
        database: str = DATABASE,
        keep_database: bool = False,
    ) -> None:
        self.database = database
        # Scenario G's filled database is kept between runs (refilled only when too small).
        self.keep_database = keep_database
        self.web_workers = web_workers
        self.web_threads = web_threads
        self.worker_class = worker_class
        self.worker_concurrency = worker_concurrency
        self.token_lifetime = token_lifetime
        self.sandbox = None
        self.web: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.web_port = 0
        self.env: dict[str, str] = {}
        self._logs: list = []
        self._pg = None
        self._pg_lock = threading.Lock()

    # --- life cycle ----------------------------------------------------------------------------

    def start(self) -> Stack:
        from ecard_sandbox.process import SandboxProcess

        services = ((POSTGRES_URL, 5432), (REDIS_URL, 6379))
        if not all(_reachable(url, port) for url, port in services):
            # Installed but stopped (a fresh machine): start them as CI does.
            subprocess.run(["bash", "scripts/ensure-services.sh"], cwd=ROOT, check=False)
        for url, port in services:
            if not _reachable(url, port):
                raise StackError(f"{url} does not answer (see scripts/ensure-services.sh)")
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        if self.keep_database:
            self._ensure_database()
        else:
            self._recreate_database()
        self._flush_redis()
        self.sandbox = SandboxProcess(
            state_dir=None,
            client_id=CLIENT_ID,
            client_secret=secrets.token_urlsafe(24),
            control_key=secrets.token_urlsafe(16),
            token_lifetime=self.token_lifetime,
            seed=7,
        ).start()
        self.env = self._environment()
        self._setup_django()
        self._run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], "migrate")
        # As production starts (deploy/systemd): gunicorn serves the collected, hashed files.
        self._run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"], "static")
        from bench.models import create_table
        from ordering.demo import seed_menu

        seed_menu()
        create_table()
        self.start_web()
        self.start_worker()
        return self

    def stop(self) -> None:
        self.stop_web()
        self.stop_worker()
        if self.sandbox is not None:
            self.sandbox.stop()
            self.sandbox = None
        if self._pg is not None:
            self._pg.close()
            self._pg = None
        for log in self._logs:
            log.close()
        self._logs = []
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001, S110 - Django may never have been set up
            pass

    def __enter__(self) -> Stack:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # --- pieces --------------------------------------------------------------------------------

    def _environment(self) -> dict[str, str]:
        from cryptography.fernet import Fernet

        sandbox = self.sandbox
        env = dict(os.environ)
        for name in list(env):
            if name.startswith(("GUNICORN_", "DJANGO_")) or name in ("DATABASE_URL", "REDIS_URL"):
                env.pop(name)
        env.update(
            DJANGO_SETTINGS_MODULE="bench.settings",
            DEBUG="0",
            SECRET_KEY=secrets.token_urlsafe(48),
            ALLOWED_HOSTS="127.0.0.1,localhost",
            SECURE_SSL_REDIRECT="0",
            CARD_DATA_KEYS=Fernet.generate_key().decode(),
            CARD_HASH_KEY=secrets.token_urlsafe(32),
            DATABASE_URL=f"{POSTGRES_URL}/{self.database}",
            REDIS_URL=REDIS_URL,
            ECARD_BASE_URL=sandbox.base_url,
            ECARD_TOKEN_URL=sandbox.token_url,
            ECARD_CLIENT_ID=CLIENT_ID,
            ECARD_CLIENT_SECRET=sandbox.client_secret,
            ECARD_CA_BUNDLE=str(sandbox.ca_path),
            LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
        )
        return env

    def _setup_django(self) -> None:
        os.environ.update(self.env)
        import django
        from django.conf import settings

        if settings.configured and "default" in settings.DATABASES:
            # A second stack in one run (G after A-F): the bench process follows its database.
            from django.db import connections

            connections.close_all()
            settings.DATABASES["default"]["NAME"] = self.database
            connections["default"].settings_dict["NAME"] = self.database
            return
        django.setup()

    def _recreate_database(self) -> None:
        import psycopg

        with psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{self.database}"')

    def _ensure_database(self) -> None:
        import psycopg

        with psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [self.database]
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.database}"')

    def connect(self):
        """A psycopg connection (autocommit) to the bench database, outside Django."""
        import psycopg

        return psycopg.connect(f"{POSTGRES_URL}/{self.database}", autocommit=True)

    def _flush_redis(self) -> None:
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        client.flushdb()  # database 5 only: the bench's own
        client.close()

    def _run(self, command: list[str], name: str) -> None:
        done = subprocess.run(command, cwd=ROOT, env=self.env, capture_output=True, text=True)
        if done.returncode:
            raise StackError(f"{name} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")

    def _spawn(self, command: list[str], name: str, **extra_env) -> subprocess.Popen:
        log = open(LOG_DIR / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()
        self._logs.append(log)
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env={**self.env, **extra_env},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def start_web(self) -> None:
        self.web_port = free_port()
        self.web = self._spawn(
            [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py"],
            "gunicorn",
            GUNICORN_BIND=f"127.0.0.1:{self.web_port}",
            GUNICORN_WORKERS=str(self.web_workers),
            GUNICORN_THREADS=str(self.web_threads),
            GUNICORN_WORKER_CLASS=self.worker_class,
        )
        deadline = time.monotonic() + 60
        guest = self.guest()
        while True:
            try:
                if (
                    guest.get("/").status == 200
                    and len(self.web_workers_pids()) >= self.web_workers
                ):
                    break
            except OSError:
                pass
            if self.web.poll() is not None or time.monotonic() > deadline:
                raise StackError(f"gunicorn did not start; see {LOG_DIR / 'gunicorn.log'}")
            time.sleep(0.2)
        guest.close()

    def start_worker(self) -> None:
        log_path = LOG_DIR / "celery.log"
        offset = log_path.stat().st_size if log_path.exists() else 0
        self.worker = self._spawn(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--loglevel=INFO",
                f"--concurrency={self.worker_concurrency}",
                "--without-gossip",
                "--without-mingle",
                "--hostname=bench@%h",
            ],
            "celery",
        )
        deadline = time.monotonic() + 60
        while b"ready." not in log_path.read_bytes()[offset:]:
            if self.worker.poll() is not None or time.monotonic() > deadline:
                raise StackError(f"celery worker did not start; see {log_path}")
            time.sleep(0.2)

    @staticmethod
    def _terminate(process: subprocess.Popen | None) -> None:
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        os.killpg(process.pid, signal.SIGCONT)  # a worker paused by bench/counters.py, too
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def stop_web(self) -> None:
        self._terminate(self.web)
        self.web = None

    def stop_worker(self) -> None:
        self._terminate(self.worker)
        self.worker = None

    # --- what the scenarios use ----------------------------------------------------------------

    def guest(self) -> Guest:
        return Guest("127.0.0.1", self.web_port)

    def web_pids(self) -> list[int]:
        return procstat.tree(self.web.pid) if self.web else []

    def web_workers_pids(self) -> list[int]:
        return procstat.children(self.web.pid) if self.web else []

    def worker_pids(self) -> list[int]:
        return procstat.tree(self.worker.pid) if self.worker else []

    def sandbox_pids(self) -> list[int]:
        return [self.sandbox.process.pid] if self.sandbox else []

    def postgres_pids(self) -> list[int]:
        """The PostgreSQL backends serving the bench database now (its own excepted)."""
        import psycopg

        with self._pg_lock:
            if self._pg is None or self._pg.closed:
                self._pg = psycopg.connect(f"{POSTGRES_URL}/{self.database}", autocommit=True)
            rows = self._pg.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [self.database],
            ).fetchall()
        return [row[0] for row in rows]

    def _admin(self):
        """A connection to the `postgres` database: its own statements never count for the bench's."""
        import psycopg

        return psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True)

    def database_counters(self) -> dict[str, int]:
        """The bench database's transaction and connection counters (pg_stat_database)."""
        with self._admin() as conn:
            row = conn.execute(
                "SELECT xact_commit, xact_rollback, sessions FROM pg_stat_database"
                " WHERE datname = %s",
                [self.database],
            ).fetchone()
        return dict(zip(("xact_commit", "xact_rollback", "sessions"), row, strict=True))

    def flush_database_stats(self) -> None:
        """End every backend of the bench database, so that each reports its counters now (an
        idle backend would wait 10 s). Gunicorn and the worker reconnect on their next request
        (CONN_HEALTH_CHECKS); the bench process's own connections are closed first."""
        from django.db import connections

        connections.close_all()
        with self._pg_lock:
            if self._pg is not None:
                self._pg.close()
                self._pg = None
        with self._admin() as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                [self.database],
            )

    def pause_worker(self) -> None:
        for pid in self.worker_pids():
            os.kill(pid, signal.SIGSTOP)

    def resume_worker(self) -> None:
        for pid in self.worker_pids():
            os.kill(pid, signal.SIGCONT)

    @property
    def control(self):
        return self.sandbox.control

    @property
    def web_concurrency(self) -> int:
        return self.web_workers * self.web_threads
