"""Test settings: the one settings module, with development defaults for the test run only."""

import os
from pathlib import Path

os.environ.setdefault("DEBUG", "1")
# Keep the test run's embedded Celery queue apart from a `make run` on the same checkout.
os.environ.setdefault(
    "CELERY_QUEUE_DIR", str(Path(__file__).resolve().parent.parent / "var" / "test-celery")
)

from config.settings import *  # noqa: E402, F403

# SQLite: a file, not memory, so that a real Celery worker started by a test sees the same data.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}  # noqa: F405
