"""Real Celery worker and beat processes for tests, sharing the test database and sandbox."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def test_database_url() -> str:
    """The URL of the database this test run uses (pytest-django's test database)."""
    params = connection.settings_dict
    if connection.vendor == "postgresql":
        user = params.get("USER") or "postgres"
        host = params.get("HOST") or "127.0.0.1"
        port = params.get("PORT") or 5432
        password = f":{params['PASSWORD']}" if params.get("PASSWORD") else ""
        return f"postgres://{user}{password}@{host}:{port}/{params['NAME']}"
    return f"sqlite:///{params['NAME']}"


def process_env(sandbox_process, **extra) -> dict:
    from django.conf import settings

    from tests.conftest import CLIENT_ID, CLIENT_SECRET, CONTROL_KEY

    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        DEBUG="1",
        DATABASE_URL=test_database_url(),
        ECARD_BASE_URL=sandbox_process.base_url,
        ECARD_TOKEN_URL=sandbox_process.token_url,
        ECARD_CLIENT_ID=CLIENT_ID,
        ECARD_CLIENT_SECRET=CLIENT_SECRET,
        ECARD_CA_BUNDLE=str(sandbox_process.ca_path),
        ECARD_SANDBOX_CONTROL_KEY=CONTROL_KEY,
        ECARD_READ_TIMEOUT=str(settings.ECARD_READ_TIMEOUT),
        ECARD_STAFF_BUDGET_SECONDS=str(settings.ECARD_STAFF_BUDGET_SECONDS),
        PYTHONUNBUFFERED="1",
    )
    if settings.REDIS_URL:
        env["REDIS_URL"] = settings.REDIS_URL
    else:
        env.pop("REDIS_URL", None)
        env["CELERY_QUEUE_DIR"] = str(settings.CELERY_QUEUE_DIR)
    env.update({key: str(value) for key, value in extra.items()})
    return env


class CeleryProcess:
    """A `celery worker` or `celery beat` child process; stopped (or killed) at exit."""

    def __init__(self, role: str, sandbox_process, *, log_path: Path, args=(), **env):
        self.role = role
        self.log_path = log_path
        command = [sys.executable, "-m", "celery", "-A", "config", role, "--loglevel=INFO"]
        if role == "worker":
            command += ["--concurrency=2", "--without-gossip", "--without-mingle"]
        command += list(args)
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=process_env(sandbox_process, **env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @classmethod
    def beat(cls, sandbox_process, tmp_path: Path, name: str = "beat", **env) -> "CeleryProcess":
        """A `celery beat` with its own log and schedule file under `tmp_path`."""
        return cls(
            "beat",
            sandbox_process,
            log_path=tmp_path / f"{name}.log",
            args=["--schedule", str(tmp_path / f"{name}-schedule")],
            **env,
        )

    def wait_ready(self, timeout: float = 30) -> None:
        marker = b"ready." if self.role == "worker" else b"beat: Starting"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if marker in self.log_path.read_bytes():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"celery {self.role} did not start:\n{self.log_text()[-3000:]}")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole process group: a worker dying at any line."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
