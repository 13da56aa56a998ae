"""`python -m bench [--quick] [--only ABCDEFG]`: every scenario of issue 7 in one command.

(B runs B′ too: the open-loop latency at half of A's rate, issue 14. G, a chain's year of staff
pages and sweeps (issue 16), runs last on its own stack and database: `--only G` runs it alone.)

Starts the whole production-like stack (bench/stack.py), runs the scenarios in order (A and B
feed C; the memory sampler F runs throughout A-D), prints the table and writes
bench/results/<timestamp>.json and bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import time
import traceback
from dataclasses import replace
from datetime import UTC, datetime

from bench import report, report_scale
from bench.config import FULL, QUICK
from bench.profile import PROFILES
from bench.stack import LOG_DIR, Stack


def _quiet_logging() -> None:
    """The bench process logs like the app does (same filters), into a file, not the console."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    stream = open(LOG_DIR / "bench-process.log", "a")  # noqa: SIM115 - lives as long as the run
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler, logging.StreamHandler) and not isinstance(
                handler, logging.FileHandler
            ):
                handler.setStream(stream)


def _step(results: dict, letter: str, title: str, run) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {letter}. {title} ...", flush=True)
    began = time.monotonic()
    try:
        results[letter] = run()
    except Exception as exc:  # noqa: BLE001 - one scenario failing must not hide the others
        traceback.print_exc()
        results[letter] = {"error": f"{type(exc).__name__}: {exc}"}
    print(f"    done in {time.monotonic() - began:.0f} s", flush=True)


def _main_stack(cfg, only: set[str], results: dict, t0: float) -> None:
    """Scenarios A to F, on one stack."""
    print(
        f"bench ({cfg.mode}): starting PostgreSQL database, sandbox, gunicorn, Celery", flush=True
    )
    from bench.scenarios import a_cpu, b_latency, b_open, c_cost, d_reconcile, e_pages
    from bench.scenarios.f_memory import MemorySampler

    with Stack(
        web_workers=cfg.web_workers,
        web_threads=cfg.web_threads,
        worker_class=cfg.web_worker_class,
        worker_concurrency=cfg.worker_concurrency,
        token_lifetime=cfg.token_lifetime,
    ) as stack:
        _quiet_logging()
        stack_started = time.monotonic()
        print(f"    stack up in {stack_started - t0:.0f} s (web on :{stack.web_port})", flush=True)
        sampler = MemorySampler(stack).start()
        if "A" in only:
            _step(results, "A", "CPU efficiency", lambda: a_cpu.run(stack, cfg))
        a_rate = (results.get("A") or {}).get("web", {}).get("rate", 0.0)
        if "B" in only:
            _step(results, "B", "latency under load", lambda: b_latency.run(stack, cfg, a_rate))
            _step(
                results,
                "B'",
                "latency at half of A's rate, open loop",
                lambda: b_open.run(stack, cfg, a_rate),
            )
        if "D" in only:
            _step(results, "D", "reconciliation", lambda: d_reconcile.run(stack, cfg))
        memory = sampler.stop()
        if "C" in only:
            _step(
                results,
                "C",
                "cost to eCard",
                lambda: c_cost.run(
                    stack,
                    results.get("A"),
                    results.get("B"),
                    run_stats=stack.control.stats(),
                    elapsed=time.monotonic() - stack_started,
                ),
            )
        if "E" in only:
            _step(results, "E", "pages", lambda: e_pages.run(stack, cfg))
        if "F" in only:
            results["F"] = memory


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: under 3 minutes")
    parser.add_argument("--only", default="ABCDEFG", help="scenarios to run, e.g. AE or G")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy flame graphs of A and D (bench/results/)"
    )
    args = parser.parse_args(argv)
    cfg = replace(QUICK if args.quick else FULL, profile=args.profile)
    if args.profile:
        shutil.rmtree(PROFILES, ignore_errors=True)
    only = set(args.only.upper())
    started = datetime.now(UTC)
    t0 = time.monotonic()
    results: dict = {}
    machine_before = report.machine()
    if only & set("ABCDEF"):
        _main_stack(cfg, only, results, t0)
    if "G" in only:
        from bench.scenarios import g_scale

        _step(results, "G", "a chain's year: staff pages and sweeps", lambda: g_scale.run(cfg))
    document = {
        "started_at": started.isoformat(),
        "seconds": round(time.monotonic() - t0, 1),
        "config": cfg.as_dict(),
        "machine": {**report.machine(), "loadavg_before": machine_before["loadavg"]},
        "scenarios": dict(sorted(results.items())),
        "table": report.rows(results),
    }
    path = report.write(document)
    print()
    print(report.table(results))
    if "G" in results:
        print()
        print(report_scale.plans_text(results["G"]))
    print(f"\n{cfg.mode} run: {document['seconds']:.0f} s; figures in {path} and latest.json")
    return 1 if any("error" in r for r in results.values() if isinstance(r, dict)) else 0


if __name__ == "__main__":
    sys.exit(main())
