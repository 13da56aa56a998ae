"""The bench's Django settings: production's (config/settings.py), plus the two baseline views.

`bench/stack.py` starts every process with `DJANGO_SETTINGS_MODULE=bench.settings`, so scenario A
and its baselines run on the same gunicorn with the same settings. Production never loads this
module: its URLconf (config/urls.py) has no baseline path (tests/test_bench_baselines.py).
"""

from config.settings import *  # noqa: F403
from config.settings import INSTALLED_APPS

# The bench's own table (bench/models.py), created by the stack, never migrated.
INSTALLED_APPS = [*INSTALLED_APPS, "bench"]
ROOT_URLCONF = "bench.urls"
