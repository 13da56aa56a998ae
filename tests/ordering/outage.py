"""A private Redis as the Django cache, killed by a test: for the cache-outage rule."""

import threading
import time
from contextlib import contextmanager

import redis
from django.conf import settings as django_settings
from django.core.cache import cache

from tests.processes import RedisServer


def serve_cache(tmp_path, settings):
    """(For a fixture: `yield from serve_cache(tmp_path, settings)`.) A private redis-server as the default cache (the same backend and options as
    config/settings.py's Redis cache), checked to really be the one Django's cache uses."""
    server = RedisServer(tmp_path).start()
    settings.CACHES = {"default": {**django_settings.CACHES["default"], "LOCATION": server.url()}}
    assert settings.CACHES["default"]["BACKEND"] == "config.cache.RedisCache"
    cache.set("outage-probe", "here")
    client = redis.Redis.from_url(server.url())
    assert any(key.endswith(b"outage-probe") for key in client.keys("*"))  # really this server
    client.close()
    yield server
    server.stop()


@contextmanager
def kill_during_redeem(sandbox, server, endpoint="redeem", seconds=1.5):
    """Delay eCard's answer (after processing it), and kill Redis while the request waits."""
    sandbox.set_faults(
        [{"match": {"endpoint": endpoint}, "action": "delay", "seconds": seconds, "when": "after"}]
    )
    done = threading.Event()

    def killer():
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not done.is_set():
            if sandbox.stats()["requests"][endpoint] >= 1:
                server.kill()
                return
            time.sleep(0.05)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=25)
    assert server.process.poll() is not None, "Redis was killed while the request was in flight"
