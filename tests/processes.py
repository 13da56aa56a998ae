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

    from tests.factories import CLIENT_ID, CLIENT_SECRET, CONTROL_KEY

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


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, timeout: float, process: subprocess.Popen | None = None) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"process exited with {process.returncode}") from None
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


class RedisServer:
    """A private `redis-server` on its own loopback port, for tests that kill and restart Redis
    (never the machine's shared one). Keeps nothing on disk, like the shared one."""

    def __init__(self, tmp_path: Path):
        self.port = free_port()
        self.dir = tmp_path
        self.log_path = tmp_path / f"redis-{self.port}.log"
        self.process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> "RedisServer":
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.dir)]
        command += ["--logfile", str(self.log_path)]
        self.process = subprocess.Popen(command, start_new_session=True)
        _wait_for_port(self.port, 10, self.process)
        return self

    def kill(self) -> None:
        """SIGKILL: Redis gone at once, connections dropped without a goodbye."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


PG_BIN = Path("/usr/lib/postgresql/15/bin")


class PostgresCluster:
    """A private PostgreSQL cluster on its own port, for tests that stop the database under a
    running process (`pg_ctl stop -m immediate`) and start it again. Runs as the `postgres` user
    when the tests run as root (PostgreSQL refuses root). Trust auth on loopback."""

    def __init__(self, tmp_path: Path):
        import tempfile

        self.port = free_port()
        self._as_root = os.geteuid() == 0
        # pytest's tmp_path is private to root: the postgres user needs a folder it can reach.
        base = Path(tempfile.mkdtemp(prefix="pg-", dir=None if not self._as_root else "/tmp"))
        base.chmod(0o755)
        self.base = base
        self.data_dir = base / "data"
        self.log_path = base / "postgres.log"

    @staticmethod
    def available() -> bool:
        return (PG_BIN / "initdb").exists()

    def url(self, name: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def _run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        if self._as_root:
            command = ("runuser", "-u", "postgres", "--", *command)
        return subprocess.run(command, check=check, capture_output=True, text=True, timeout=120)

    def init(self) -> "PostgresCluster":
        self.data_dir.mkdir(parents=True)
        if self._as_root:
            import shutil

            for path in (self.data_dir, self.base):
                shutil.chown(path, user="postgres")
            self.log_path.touch()
            shutil.chown(self.log_path, user="postgres")
        self._run(
            str(PG_BIN / "initdb"), "-D", str(self.data_dir), "-U", "postgres",
            "--auth=trust", "--no-sync", "-E", "UTF8",
        )  # fmt: skip
        return self

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''"
        options += " -c fsync=off"
        self._run(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_path),
            "-o", options, "-w", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """`mode="immediate"`: the database gone at once, as in a crash."""
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop",
                  check=False)  # fmt: skip

    def create_database(self, name: str) -> None:
        subprocess.run(
            ["psql", self.url(), "-v", "ON_ERROR_STOP=1", "-c", f'CREATE DATABASE "{name}"'],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip

    def __enter__(self):
        self.init().start()
        return self

    def __exit__(self, *exc):
        import shutil

        self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)
