"""Production's URLs (config/urls.py) plus the baseline views of scenario A (bench/views.py)."""

from django.urls import path

from bench import views
from bench.config import BARE_PATH, WRITE_PATH
from config.urls import handler400, handler403, handler404, handler500
from config.urls import urlpatterns as site

__all__ = ["BARE_PATH", "WRITE_PATH", "handler400", "handler403", "handler404", "handler500"]

urlpatterns = [
    path(BARE_PATH.lstrip("/"), views.bare_post, name="bench_bare"),
    path(WRITE_PATH.lstrip("/"), views.write_post, name="bench_write"),
    *site,
]
