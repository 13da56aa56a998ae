"""Round trips per payment, counted by the servers: Redis `INFO commandstats` and PostgreSQL's
`pg_stat_database` (scenario A's counting window).

A `RoundTripCounter` is a meter for `load.run` (start()/stop() around the window). While it
counts, the Celery worker is paused (SIGSTOP, then SIGCONT), so what is counted is the web
requests' own: the receipt messages they queue, not the worker's polling or its receipt tasks.

PostgreSQL: a backend reports its counters at most once a second, and an idle one only after
10 s, so the counts of the last second would be missed (or those of the phase before would land
in the window). The counter makes every backend of the bench database report by ending it
(`Stack.flush_database_stats`) at both ends of the window: gunicorn's threads reconnect on their
next request (CONN_HEALTH_CHECKS), so each connection opened in the window may add its
connection-time statements (`SET TIME ZONE`); they are reported (`connections_opened`). Never
use it around a CPU measurement.

Redis: commandstats counts the whole server's commands (every database, every client): other
clients (colleagues' test runs on the shared server) add to them. A one-second sample with no
load just before the window gives their rate, reported and subtracted (`net`), which only holds
if that load is steady. So the counter also listens with MONITOR during the window and counts
the commands on the bench's own Redis database alone (`bench_db`): that one is exact. Both count
commands, not round trips: a pipeline of three commands is three commands and one round trip.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter

IDLE_SAMPLE_SECONDS = 1.0


def redis_calls(client) -> dict[str, int]:
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


def _delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


class RoundTripCounter:
    def __init__(self, stack) -> None:
        import redis

        self.stack = stack
        self.redis = redis.Redis.from_url(stack.env["REDIS_URL"])
        self.result: dict[str, float] = {}  # no CPU: load.run's callers read it as a meter's
        self.machine: dict[str, float] = {}
        self.counts: dict = {}

    def start(self) -> RoundTripCounter:
        self.stack.pause_worker()
        self.stack.flush_database_stats()
        idle_before = redis_calls(self.redis)
        time.sleep(IDLE_SAMPLE_SECONDS)
        self.redis_before = redis_calls(self.redis)
        self.background = _delta(self.redis_before, idle_before)
        self._listen()
        self.pg_before = self.stack.database_counters()
        self.began = time.monotonic()
        return self

    def _listen(self) -> None:
        """MONITOR in a thread, counting the commands on the bench's database until a marker."""
        db = self.redis.connection_pool.connection_kwargs.get("db", 0)
        self.marker = f"bench-counter-{secrets.token_hex(4)}"
        self.bench_db: Counter[str] = Counter()
        ready = threading.Event()

        def listen() -> None:
            with self.redis.monitor() as monitor:
                ready.set()
                for entry in monitor.listen():
                    if entry["db"] != db:
                        continue
                    if self.marker in entry["command"]:
                        return
                    self.bench_db[entry["command"].split(" ", 1)[0].lower()] += 1

        self._monitor = threading.Thread(target=listen, daemon=True, name="bench-monitor")
        self._monitor.start()
        ready.wait(5)
        time.sleep(0.1)  # MONITOR is sent once the context is entered; let the server see it

    def _stop_listening(self) -> None:
        self.redis.echo(self.marker)
        self._monitor.join(10)

    def stop(self) -> dict[str, float]:
        seconds = time.monotonic() - self.began
        redis_after = redis_calls(self.redis)
        self._stop_listening()
        try:
            self.stack.flush_database_stats()
            pg_after = self.stack.database_counters()
        finally:
            self.stack.resume_worker()
        calls = _delta(redis_after, self.redis_before)
        # The counter's own INFO is one call in the window; the background's rate times its length.
        calls["info"] = calls.get("info", 0) - 1
        calls = {k: v for k, v in calls.items() if v}
        background = sum(self.background.values()) / IDLE_SAMPLE_SECONDS * seconds
        self.counts = {
            "seconds": round(seconds, 2),
            "redis_calls": dict(sorted(calls.items(), key=lambda kv: -kv[1])),
            "redis_total": sum(calls.values()),
            "redis_background_estimate": round(background, 1),
            "redis_bench_db": {
                k: v - (k == "info")  # the counter's own INFO, before its marker
                for k, v in self.bench_db.most_common()
                if v - (k == "info")
            },
            "postgres": {k: pg_after[k] - self.pg_before[k] for k in pg_after},
        }
        self.redis.close()
        return self.result


def per_payment(counts: dict, payments: int) -> dict:
    per = max(payments, 1)
    pg = counts["postgres"]
    return {
        "payments": payments,
        "redis_commands": round(counts["redis_total"] / per, 2),
        "redis_commands_net": round(
            (counts["redis_total"] - counts["redis_background_estimate"]) / per, 2
        ),
        "redis_by_command": {k: round(v / per, 2) for k, v in counts["redis_calls"].items()},
        "redis_bench_db_commands": round(sum(counts["redis_bench_db"].values()) / per, 2),
        "redis_bench_db_by_command": {
            k: round(v / per, 2) for k, v in counts["redis_bench_db"].items()
        },
        "postgres_transactions": round((pg["xact_commit"] + pg["xact_rollback"]) / per, 2),
        "postgres_commits": round(pg["xact_commit"] / per, 2),
        "postgres_rollbacks": round(pg["xact_rollback"] / per, 2),
        "connections_opened": pg["sessions"],
        "window": counts,
    }
