"""The chaos run (`make chaos` runs it at 2,000; the suite at 300): all ten invariants at zero."""

import io
import logging
import random

import pytest

from config.logging import RedactingFilter
from tests.chaos.runner import ChaosRun
from tests.processes import CeleryProcess
from tests.scan import dump_database, dump_queue_folder, dump_redis

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]
TOKEN_LIFETIME = 600


@pytest.fixture
def captured_logs():
    """Everything our processes log here, through the project's redacting filter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous)


def test_chaos(request, sandbox, sandbox_process, settings, tmp_path, captured_logs):
    size = request.config.getoption("--chaos-size")
    seed = request.config.getoption("--chaos-seed") or random.randrange(1, 10**6)
    # Short timeouts and budgets: faults cost seconds, not minutes.
    fast = {
        "ECARD_READ_TIMEOUT": 0.8,
        "ECARD_GUEST_BUDGET_SECONDS": 3,
        "ECARD_STAFF_BUDGET_SECONDS": 3,
        "RECONCILE_SWEEP_SECONDS": 1,
    }
    for name, value in fast.items():
        setattr(settings, name, value)
    sandbox.settings(token_lifetime_seconds=TOKEN_LIFETIME)
    run = ChaosRun(sandbox=sandbox, size=size, seed=seed)
    run.setup_cards()

    worker = CeleryProcess("worker", sandbox_process, log_path=tmp_path / "worker.log", **fast)
    beat = CeleryProcess.beat(sandbox_process, tmp_path, **fast)
    with worker, beat:
        worker.wait_ready()
        elapsed = run.run_workload()
        drained = run.drain(timeout=240, token_lifetime=TOKEN_LIFETIME)
        process_logs = worker.log_text() + beat.log_text()

    scan = dump_database()
    if settings.REDIS_URL:
        scan += dump_redis(settings.REDIS_URL)
    else:
        scan += dump_queue_folder(settings.CELERY_QUEUE_DIR)
    report = run.check(log_text=captured_logs.getvalue() + process_logs, secret_scan=scan)
    report.metrics["workload seconds"] = round(elapsed, 1)
    report.metrics["drain seconds"] = round(drained, 1)
    print("\n" + report.text())  # noqa: T201 - the report is the point of `make chaos`
    assert report.violations == 0, report.text()
