"""Test settings: the one settings module, with development defaults for the test run only."""

import os
from pathlib import Path

# Each test run gets its own folder, so that two runs on one checkout never share files.
RUN_DIR = Path(__file__).resolve().parent.parent / "var" / "test-runs" / str(os.getpid())
os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("CELERY_QUEUE_DIR", str(RUN_DIR / "celery"))
# On a shared Redis, a run's worker consumes only its own queue and its cache keys stay its own.
os.environ.setdefault("CELERY_QUEUE", f"test-{os.getpid()}")
os.environ.setdefault("CACHE_KEY_PREFIX", f"giftcards-test-{os.getpid()}")
os.environ.setdefault("ECARD_CLOCK_CACHE_DIR", str(RUN_DIR / "ecard-clock"))
os.environ.setdefault("MEDIA_ROOT", str(RUN_DIR / "media"))
os.environ.setdefault("EVIDENCE_EXPORT_DIR", str(RUN_DIR / "exports"))

from config.settings import *  # noqa: E402, F403

# SQLite: a file, not memory, so that a real Celery worker started by a test sees the same data.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(RUN_DIR / "test-db.sqlite3")}  # noqa: F405
    RUN_DIR.mkdir(parents=True, exist_ok=True)
else:
    # PostgreSQL: one test database per run, so that two runs on one server never collide.
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"  # noqa: F405
    }

# Plain static names: templates render without a collectstatic manifest (the live server serves
# the files from the finders). tests/config/test_static_files.py collects and serves the
# production storage itself.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
STATIC_ROOT = RUN_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
