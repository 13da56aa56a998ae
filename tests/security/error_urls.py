"""The site's URLs plus views that fail, for the 500 page tests (ROOT_URLCONF override)."""

from django.urls import re_path

from config.urls import handler400, handler403, handler404, handler500
from config.urls import urlpatterns as site
from kiosk.urls import GUEST
from ordering.urls import ORDER

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]


def broken(request, **kwargs):
    raise RuntimeError("a bug in a view")


urlpatterns = [
    re_path(ORDER + r"boom/$", broken),
    re_path(r"^kiosk/" + GUEST.removeprefix("^") + r"boom/$", broken),
    re_path(r"^boom/$", broken),
    *site,
]
