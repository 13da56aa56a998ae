"""CPU time and memory of processes, read from /proc (no psutil)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """Direct children of `pid` (every thread's children file)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def tree(pid: int) -> list[int]:
    """`pid` and all its descendants."""
    pids = [pid]
    for child in children(pid):
        pids += tree(child)
    return pids


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (all its threads), in seconds; 0 if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def cpu_of(pids: list[int]) -> float:
    return sum(cpu_seconds(pid) for pid in pids)


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores, every process), from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / TICKS


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) in kB."""
    values = {"VmRSS": 0, "VmHWM": 0}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in values:
                values[key] = int(rest.split()[0])
    except OSError:
        pass
    return values


class CpuMeter:
    """CPU seconds spent by groups of processes between `start()` and `stop()`.

    `groups` maps a name to a callable returning the pids to count. A sampler thread re-reads
    them every `interval` seconds, so a process that starts, or ends (a PostgreSQL backend
    recycled by CONN_MAX_AGE), during the window is counted up to its last sample."""

    def __init__(self, groups: dict[str, object], interval: float = 0.5) -> None:
        self.groups = groups
        self.interval = interval
        self.before: dict[str, dict[int, float]] = {}
        self.last: dict[str, dict[int, float]] = {}
        self.result: dict[str, float] = {}
        self.machine_before = 0.0
        self.wall_before = 0.0
        self.machine: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        for name, pids in self.groups.items():
            seen = self.last.setdefault(name, {})
            for pid in pids():
                seconds = cpu_seconds(pid)
                if seconds:
                    seen[pid] = max(seen.get(pid, 0.0), seconds)
                    self.before[name].setdefault(pid, 0.0)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def start(self) -> CpuMeter:
        self.before = {
            name: {pid: cpu_seconds(pid) for pid in pids()} for name, pids in self.groups.items()
        }
        self.last = {name: dict(values) for name, values in self.before.items()}
        self.machine_before = machine_busy_seconds()
        self.wall_before = time.monotonic()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True, name="bench-cpu")
        self._thread.start()
        return self

    def stop(self) -> dict[str, float]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self._sample()
        self.result = {
            name: sum(t - self.before[name].get(pid, 0.0) for pid, t in self.last[name].items())
            for name in self.groups
        }
        wall = time.monotonic() - self.wall_before
        busy = machine_busy_seconds() - self.machine_before
        # "other": every process this meter does not name (Redis, colleagues' jobs on the box).
        self.machine = {
            "cores_busy": round(busy / wall, 2) if wall else 0.0,
            "other_cores_busy": round((busy - sum(self.result.values())) / wall, 2)
            if wall
            else 0.0,
        }
        return self.result
