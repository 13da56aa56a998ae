"""The command line and SandboxProcess: start-up lines, CA reuse, ports and clean exits."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys

import pytest
import requests

from ecard_sandbox.process import PACKAGE_PARENT, SandboxProcess, SandboxStartError


def test_ca_is_created_once_and_reused(tmp_path):
    state_dir = tmp_path / "state" / "nested"  # created on demand
    with SandboxProcess(state_dir) as first:
        assert first.ca_path == (state_dir / "ca.pem").resolve()
        ca = first.ca_path.read_bytes()
        key = (state_dir / "ca-key.pem").read_bytes()
        assert stat.S_IMODE((state_dir / "ca-key.pem").stat().st_mode) == 0o600
        first_port = first.port
    with SandboxProcess(state_dir) as second:
        assert second.ca_path.read_bytes() == ca
        assert (state_dir / "ca-key.pem").read_bytes() == key
        # The fresh server certificate is signed by the same CA.
        assert second.control.health() == {"status": "ok"}
    assert first_port > 0
    assert sorted(p.name for p in state_dir.iterdir()) == ["ca-key.pem", "ca.pem"]


def test_temporary_state_dir_is_removed(tmp_path):
    with SandboxProcess() as sandbox:
        state_dir = sandbox.state_dir
        assert state_dir.exists()
        assert sandbox.base_url.endswith("/api/transaction/v1")
        assert sandbox.token_url.endswith("/api/reporting/v1/auth/token")
    assert not state_dir.exists()
    assert sandbox.process.returncode == 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_cli_prints_its_lines_and_exits_cleanly(tmp_path, signum):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": PACKAGE_PARENT}
    process = subprocess.Popen(  # noqa: S603 - our own fixed command line
        [sys.executable, "-m", "ecard_sandbox", "--port", str(port), "--state-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout.readline() == f"ecard_sandbox listening on https://127.0.0.1:{port}\n"
        assert process.stdout.readline() == f"CA certificate: {tmp_path}/ca.pem\n"
        session = requests.Session()
        url = f"https://127.0.0.1:{port}/api/reporting/v1/auth/token"
        body = {
            "client_id": "demo-client",
            "client_secret": "demo-secret",
            "grant_type": "client_credentials",
        }
        response = session.post(url, json=body, verify=str(tmp_path / "ca.pem"), timeout=5)
        assert response.status_code == 200  # the documented default credentials
        stats = session.get(
            f"https://127.0.0.1:{port}/__sandbox__/stats",
            headers={"X-Sandbox-Key": "dev-sandbox-key"},  # the default control key
            verify=str(tmp_path / "ca.pem"),
            timeout=5,
        )
        assert stats.json()["data"]["token_requests"] == 1
        session.close()
        process.send_signal(signum)
        assert process.wait(timeout=10) == 0
        assert "Traceback" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()


def test_startup_options(tmp_path):
    with SandboxProcess(
        tmp_path, port=free_port(), latency=0.2, token_lifetime=120, seed=3
    ) as sandbox:
        current = sandbox.control.settings()
        assert (current["latency_seconds"], current["token_lifetime_seconds"]) == (0.2, 120)
        sandbox.control.settings(latency_seconds=0)
        sandbox.control.reset()  # back to the start-up values
        assert sandbox.control.settings()["latency_seconds"] == 0.2


def test_port_in_use_fails_clearly(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(SandboxStartError, match="cannot start"):
            SandboxProcess(tmp_path, port=port, startup_timeout=10).start()


def test_mismatched_ca_files_fail_clearly(tmp_path):
    with SandboxProcess(tmp_path / "a"):
        pass
    with SandboxProcess(tmp_path / "b"):
        pass
    (tmp_path / "a" / "ca-key.pem").write_bytes((tmp_path / "b" / "ca-key.pem").read_bytes())
    with pytest.raises(SandboxStartError, match="do not belong together"):
        SandboxProcess(tmp_path / "a", startup_timeout=10).start()
