"""Run the sandbox as a child process: `with SandboxProcess() as sandbox: ...`."""

from __future__ import annotations

import collections
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

import requests

from ecard_sandbox.control import SandboxControl

LISTENING_RE = re.compile(r"ecard_sandbox listening on https://(?P<host>.+):(?P<port>[0-9]+)$")
CA_RE = re.compile(r"CA certificate: (?P<path>.+)$")
PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)


class SandboxStartError(RuntimeError):
    """The sandbox process exited or did not become ready in time."""


class SandboxProcess:
    """Starts `python -m ecard_sandbox` on a free port and waits until it answers over TLS.

    Use as a context manager (or call `start()` / `stop()`). With `port=0` the sandbox binds a
    free port itself and reports it; `state_dir=None` uses a temporary directory removed on
    `stop()`. Once started: `port`, `url_root`, `base_url` (…/api/transaction/v1), `token_url`,
    `ca_path` and `control` (a `SandboxControl`).
    """

    def __init__(
        self,
        state_dir: str | os.PathLike[str] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        client_id: str = "demo-client",
        client_secret: str = "demo-secret",  # noqa: S107 - the documented development default
        control_key: str = "dev-sandbox-key",
        latency: float = 0.0,
        token_lifetime: int = 86400,
        seed: int = 0,
        startup_timeout: float = 30.0,
        python: str | None = None,
    ) -> None:
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self.host = host
        self.port = port
        self.client_id = client_id
        self.client_secret = client_secret
        self.control_key = control_key
        self.latency = latency
        self.token_lifetime = token_lifetime
        self.seed = seed
        self.startup_timeout = startup_timeout
        self.python = python or sys.executable
        self.process: subprocess.Popen[str] | None = None
        self.ca_path: Path | None = None
        self.control: SandboxControl | None = None
        self._temp_dir: str | None = None
        self._stdout: queue.Queue[str | None] = queue.Queue()
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=50)
        self._pumps: list[threading.Thread] = []

    # --- addresses -----------------------------------------------------------------------------

    @property
    def url_root(self) -> str:
        host = self.host
        if host in ("", "0.0.0.0"):  # noqa: S104 - a wildcard bind is reached via loopback
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        shown = f"[{host}]" if ":" in host else host
        return f"https://{shown}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url_root}/api/transaction/v1"

    @property
    def token_url(self) -> str:
        return f"{self.url_root}/api/reporting/v1/auth/token"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # --- life cycle ----------------------------------------------------------------------------

    def command(self) -> list[str]:
        return [
            self.python,
            "-m",
            "ecard_sandbox",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--state-dir",
            str(self.state_dir),
            "--client-id",
            self.client_id,
            "--latency",
            str(self.latency),
            "--token-lifetime",
            str(self.token_lifetime),
            "--seed",
            str(self.seed),
        ]

    def start(self) -> SandboxProcess:
        if self.process is not None:
            raise RuntimeError("this SandboxProcess was already started")
        if self.state_dir is None:
            self._temp_dir = tempfile.mkdtemp(prefix="ecard-sandbox-")
            self.state_dir = Path(self._temp_dir)
        env = dict(os.environ)
        # Importable from anywhere, whatever the caller's working directory.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [PACKAGE_PARENT, env.get("PYTHONPATH")]))
        env["PYTHONUNBUFFERED"] = "1"
        # Secrets go through the environment: a command line is visible to every `ps`.
        env["ECARD_SANDBOX_CLIENT_SECRET"] = self.client_secret
        env["ECARD_SANDBOX_CONTROL_KEY"] = self.control_key
        self.process = subprocess.Popen(  # noqa: S603 - our own fixed command line
            self.command(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        self._pump(self.process.stdout, self._stdout.put, at_end=lambda: self._stdout.put(None))
        self._pump(self.process.stderr, self._stderr_tail.append)
        try:
            self._wait_until_ready(time.monotonic() + self.startup_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _pump(self, stream: IO[str] | None, sink: Any, at_end: Any = None) -> None:
        # Drain the child's pipes for its whole life so that it can never block on a full pipe.
        def run() -> None:
            if stream is not None:
                for line in stream:
                    sink(line.rstrip("\n"))
            if at_end is not None:
                at_end()

        thread = threading.Thread(target=run, daemon=True, name="ecard-sandbox-pipe")
        thread.start()
        self._pumps.append(thread)

    def _fail(self, reason: str) -> SandboxStartError:
        if self.process is not None and self.process.poll() is not None:
            for thread in self._pumps:  # let the pipes deliver the last words
                thread.join(2)
        tail = "\n".join(self._stderr_tail)
        return SandboxStartError(f"ecard_sandbox did not start: {reason}\n{tail}".rstrip())

    def _wait_until_ready(self, deadline: float) -> None:
        ca_path = None
        while ca_path is None:
            try:
                line = self._stdout.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise self._fail("timed out waiting for its start-up lines") from None
            if line is None:
                raise self._fail(f"it exited with status {self.process and self.process.wait()}")
            if match := LISTENING_RE.search(line):
                self.port = int(match["port"])
            elif match := CA_RE.search(line):
                ca_path = Path(match["path"])
        self.ca_path = ca_path.resolve()
        self.control = SandboxControl(self.url_root, self.control_key, self.ca_path)
        while True:
            try:
                self.control.health()
                return
            except requests.RequestException as exc:
                if time.monotonic() > deadline or not self.running:
                    raise self._fail(f"no answer over TLS: {exc}") from exc
                time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate (SIGTERM, then SIGKILL after `timeout`) and remove a temporary state dir."""
        if self.control is not None:
            self.control.close()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        if self.process is not None:
            for thread in self._pumps:
                thread.join(timeout)
            for stream in (self.process.stdout, self.process.stderr):
                if stream is not None:
                    stream.close()
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
