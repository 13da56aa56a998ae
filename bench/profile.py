"""`--profile`: py-spy flame graphs of the server processes while a scenario is measured.

py-spy (requirements-dev.txt) samples the processes from outside, so what it shows is the
production code path unchanged. Each process gets bench/results/profiles/<name>-<pid>.svg.
Sampling costs some CPU itself: compare figures from runs without `--profile`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from bench.report import RESULTS

PROFILES = RESULTS / "profiles"
# "raw": collapsed stacks (one line per stack and its samples), to sum up with a script.
PROFILE_FORMAT = os.environ.get("BENCH_PROFILE_FORMAT", "flamegraph")


def py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


@contextlib.contextmanager
def profiled(enabled: bool, name: str, pids: list[int]):
    """Record every pid in `pids` while the block runs (no-op unless `enabled`)."""
    binary = py_spy() if enabled else None
    if not binary:
        yield []
        return
    PROFILES.mkdir(parents=True, exist_ok=True)
    suffix = "txt" if PROFILE_FORMAT == "raw" else "svg"
    outputs = [PROFILES / f"{name}-{pid}.{suffix}" for pid in pids]
    recorders = [
        subprocess.Popen(
            [binary, "record", "--pid", str(pid), "--rate", "100", "--nonblocking"]
            + ["--format", PROFILE_FORMAT, "--output", str(path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid, path in zip(pids, outputs, strict=True)
    ]
    try:
        yield outputs
    finally:
        for recorder in recorders:
            recorder.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        for recorder in recorders:
            try:
                recorder.wait(timeout=30)
            except subprocess.TimeoutExpired:
                recorder.kill()
