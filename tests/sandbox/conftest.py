"""Fixtures for the sandbox's own tests: one real sandbox process over HTTPS, no Django."""

from __future__ import annotations

import pytest

from ecard_sandbox.control import SandboxControl
from ecard_sandbox.process import SandboxProcess
from tests.sandbox.helpers import CLIENT_ID, CLIENT_SECRET, CONTROL_KEY, SEED, ApiClient


@pytest.fixture(scope="session", autouse=True)
def _point_settings_at_sandbox():
    """Overrides the project conftest's Django wiring: the sandbox tests never load Django."""
    return


@pytest.fixture(autouse=True)
def _clear_cache():
    """Overrides the project conftest's cache clean-up, which needs Django settings."""
    return


@pytest.fixture(scope="session")
def sandbox_process(tmp_path_factory) -> SandboxProcess:
    """One sandbox for the whole session, with non-default credentials and seed."""
    state_dir = tmp_path_factory.mktemp("sandbox-state")
    with SandboxProcess(
        state_dir=state_dir,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        control_key=CONTROL_KEY,
        seed=SEED,
    ) as process:
        yield process


@pytest.fixture(autouse=True)
def control(sandbox_process) -> SandboxControl:
    """The control API, on an empty sandbox with start-up settings and no faults."""
    control = sandbox_process.control
    control.reset()
    yield control
    control.clear_faults()
    control.settings(latency_seconds=0, token_lifetime_seconds=86400)


@pytest.fixture
def api(sandbox_process, control) -> ApiClient:
    client = ApiClient(sandbox_process)
    yield client
    client.session.close()
