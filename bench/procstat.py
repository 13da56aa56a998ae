"""CPU time and memory of processes, read from /proc (no psutil)."""

from __future__ import annotations

import os
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

    `groups` maps a name to a callable returning the pids to count (re-read at each reading, so
    that processes started meanwhile are counted from their first tick)."""

    def __init__(self, groups: dict[str, object]) -> None:
        self.groups = groups
        self.before: dict[str, dict[int, float]] = {}
        self.result: dict[str, float] = {}
        self.machine_before = 0.0
        self.wall_before = 0.0
        self.machine: dict[str, float] = {}

    def _read(self) -> dict[str, dict[int, float]]:
        return {
            name: {pid: cpu_seconds(pid) for pid in pids()} for name, pids in self.groups.items()
        }

    def start(self) -> CpuMeter:
        self.before = self._read()
        self.machine_before = machine_busy_seconds()
        self.wall_before = time.monotonic()
        return self

    def stop(self) -> dict[str, float]:
        after = self._read()
        self.result = {
            name: sum(t - self.before[name].get(pid, 0.0) for pid, t in after[name].items())
            for name in after
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
