"""F. Memory: peak RSS of the gunicorn workers and the Celery worker while A-D run.

A sampler thread reads VmRSS from /proc every half second; at the end each process's VmHWM (the
kernel's own peak) is read too, and the larger of the two is reported.
"""

from __future__ import annotations

import threading

from bench.procstat import memory_kb


class MemorySampler:
    def __init__(self, stack, interval: float = 0.5) -> None:
        self.stack = stack
        self.interval = interval
        self.peaks: dict[str, dict[int, int]] = {"gunicorn": {}, "celery": {}}
        self.peak_totals: dict[str, int] = {"gunicorn": 0, "celery": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="bench-memory")

    def _groups(self) -> dict[str, list[int]]:
        return {"gunicorn": self.stack.web_pids(), "celery": self.stack.worker_pids()}

    def sample(self) -> None:
        for group, pids in self._groups().items():
            total = 0
            for pid in pids:
                values = memory_kb(pid)
                rss = max(values["VmRSS"], values["VmHWM"])
                total += values["VmRSS"]
                self.peaks[group][pid] = max(self.peaks[group].get(pid, 0), rss)
            self.peak_totals[group] = max(self.peak_totals[group], total)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def start(self) -> MemorySampler:
        self.sample()
        self._thread.start()
        return self

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join(5)
        self.sample()
        return self.result()

    def result(self) -> dict:
        def mb(kb: int) -> float:
            return round(kb / 1024, 1)

        out = {}
        for group in ("gunicorn", "celery"):
            pids = self.peaks[group]
            master = self.stack.web.pid if group == "gunicorn" and self.stack.web else None
            master = master or (
                self.stack.worker.pid if group == "celery" and self.stack.worker else None
            )
            children = [kb for pid, kb in pids.items() if pid != master]
            out[group] = {
                "processes": len(pids),
                "master_peak_mb": mb(pids.get(master, 0)) if master else None,
                "worker_peak_mb": mb(max(children, default=0)),
                "total_peak_mb": mb(self.peak_totals[group]),
            }
        return out
