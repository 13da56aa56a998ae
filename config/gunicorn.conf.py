"""gunicorn settings for production (and `make bench`): `gunicorn -c config/gunicorn.conf.py`.

A guest's payment spends most of its time waiting for eCard (and PostgreSQL and Redis), not on
the CPU, so each worker process runs a pool of threads (`gthread`): while one thread waits for
eCard, the others serve requests. Processes give the CPU parallelism (about one per core), threads
the I/O concurrency. Each thread keeps its own database connection and its own pooled HTTPS
connection to eCard, so `workers × threads` bounds both (keep it under PostgreSQL's
`max_connections` and `ECARD_POOL_SIZE`). Measured in docs/performance.md.

Every value can be overridden from the environment (`GUNICORN_*`).
"""

import os


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


wsgi_app = "config.wsgi:application"
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
workers = _int("GUNICORN_WORKERS", 2)
threads = _int("GUNICORN_THREADS", 16)
# More than a guest's whole eCard budget (8 s by default) plus the database: a request is never
# killed while its redeem may still be in flight.
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
# Load the application once in the master, then fork: faster start, shared memory pages.
# Connections (database, Redis, eCard) are opened lazily in each worker, never before the fork.
preload_app = os.environ.get("GUNICORN_PRELOAD", "1") == "1"
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
errorlog = os.environ.get("GUNICORN_ERRORLOG", "-")
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")
# The TLS-terminating proxy in front sets X-Forwarded-Proto; only trust it from loopback.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
