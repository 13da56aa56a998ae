"""Table rows for issue 14's figures: A's baselines and round trips, and B′ (bench/report.py)."""

from __future__ import annotations


def _mark(ok) -> str:
    if ok is None:
        return ""
    return "yes" if ok else "NO"


def _ms(figures: dict) -> str:
    return f"{figures['p50_ms']:.0f} / {figures['p95_ms']:.0f} / {figures['p99_ms']:.0f}"


def open_loop_rows(add, o: dict) -> None:
    """B′: Poisson arrivals at half of A's web rate, sandbox latency 150 ms."""
    if "web" not in o:
        if o:
            add(("B′", "error", o.get("error", "?")[:60], "", "NO"))
        return
    web, over, goal, met = o["web"], o["overhead_pct"], o["goal"], o["met"]
    add(("B′", "p50 / p95 / p99 ms (open loop, from arrival)", _ms(web), "", ""))
    add(
        (
            "B′",
            "p50 overhead over 150 ms",
            f"{over['p50']:.0f} %",
            f"<= {goal['p50_overhead_pct_max']} %",
            _mark(met["p50_overhead"]),
        )
    )
    add(
        (
            "B′",
            "p99 overhead over 150 ms",
            f"{over['p99']:.0f} %",
            f"<= {goal['p99_overhead_pct_max']} %",
            _mark(met["p99_overhead"]),
        )
    )
    offered = f"offered {o['offered_rate']:.1f}" + (" = A / 2" if o["offered_from"] == "A" else "")
    add(
        (
            "B′",
            f"payments/s: achieved / arrived ({offered})",
            f"{o['achieved_rate']:.1f} / {o['arrival_rate']:.1f}",
            "",
            "",
        )
    )
    add(
        (
            "B′",
            f"errors / arrivals waiting for a guest ({o['guests']} guests)",
            f"{web['errors']} / {o['starved']}",
            "0 / 0",
            "",
        )
    )
    add(
        (
            "B′",
            "other load on the machine (cores)",
            f"{o['machine']['other_cores_busy']:.2f}",
            "",
            "",
        )
    )


def round_trip_rows(add, trips: dict) -> None:
    """Counted by the servers in A's counting window (bench/counters.py), per payment."""
    add(
        (
            "A",
            "Redis commands/payment: server-wide (net of other clients' rate)",
            f"{trips['redis_commands']:.2f} ({trips['redis_commands_net']:.2f})",
            "",
            "",
        )
    )
    top = list(trips["redis_bench_db_by_command"].items())[:6]
    add(
        (
            "A",
            "Redis commands/payment: bench's database (MONITOR)",
            f"{trips['redis_bench_db_commands']:.2f}",
            "",
            "",
        )
    )
    add(("A", "  of which", ", ".join(f"{k} {v:g}" for k, v in top), "", ""))
    add(
        (
            "A",
            f"PostgreSQL transactions/payment ({trips['connections_opened']} connections opened)",
            f"{trips['postgres_transactions']:.2f}",
            "",
            "",
        )
    )
    if "bare" in trips:
        bare = trips["bare"]
        add(
            (
                "A",
                "(a) per request: PostgreSQL transactions / Redis commands",
                f"{bare['postgres_transactions']:.2f} / {bare['redis_bench_db_commands']:.2f}",
                "",
                "",
            )
        )


def baseline_rows(add, a: dict) -> None:
    """A's baselines: server CPU (gunicorn + PostgreSQL) per request, same run, same gunicorn."""
    base, server = a["baselines"], a["server_cpu_ms"]
    bare, write = base["bare"], base["write"]
    add(("A", "server CPU ms/request: payment", f"{server['payment']:.1f}", "", ""))
    pair = " / ".join(f"{v:.1f}" for v in server["bare_before_after"])
    add(
        (
            "A",
            "server CPU ms/request: (a) POST, session + CSRF (before / after)",
            f"{server['bare']:.1f} ({pair})",
            "",
            "",
        )
    )
    add(("A", "server CPU ms/request: (b) (a) + INSERT + UPDATE", f"{server['write']:.1f}", "", ""))
    add(("A", "CPU ms/request: raw client (bench process)", f"{server['raw client']:.1f}", "", ""))
    add(
        (
            "A",
            "payment / (a) server CPU",
            f"{a['payment_per_bare']:.1f}",
            f"<= {a['goal']['payment_per_bare_max']:.0f}",
            _mark(a["met_payment_per_bare"]),
        )
    )
    add(("A", "(a) / (b) requests/s", f"{bare['rate']:.0f} / {write['rate']:.0f}", "", ""))
    add(("A", "(a) / (b) errors", f"{bare['errors']} / {write['errors']}", "0", ""))
    cores = a["raw_cores"]
    add(
        (
            "A",
            "raw side cores busy: client (one process) / sandbox",
            f"{cores['raw client']:.2f} / {cores['sandbox']:.2f}",
            "",
            "",
        )
    )
    add(
        (
            "A",
            "other load on the machine (cores, (a) / (b))",
            f"{bare['machine']['other_cores_busy']:.2f} / {write['machine']['other_cores_busy']:.2f}",
            "",
            "",
        )
    )
