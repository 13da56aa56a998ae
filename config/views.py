"""The site's own error pages (400, 403, CSRF failure, 404, 500): a plain sentence and a way on.

Which page a guest was on is read from the path alone (no database, no session), so every page
here renders even when the database or the cache is down: an online order's URL links back to
the order, a kiosk guest URL back to that visit (whose pages lead on by the order's status), any
other kiosk URL to the kiosk's start, everything else to the menu. The templates are rendered
without context processors (nothing there can fail); none has an inline script, and the CSP
middleware still adds its headers.
"""

import re
from dataclasses import dataclass

from django.http import HttpResponse
from django.template import loader
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext

from kiosk.urls import GUEST as KIOSK_GUEST
from ordering.urls import ORDER

ORDER_RE = re.compile(ORDER)
KIOSK_GUEST_RE = re.compile(KIOSK_GUEST)

# Forms whose POST sends a payment: a CSRF failure there never reached the view, so nothing was
# sent to eCard and the guest must hear that nothing was charged.
PAYMENT_FORM_RE = re.compile(ORDER + r"(pay|apply-balance)/$|^kiosk/" + KIOSK_GUEST[1:] + r"pay/")

# A kiosk error page nobody touches goes back on its own (the kiosk's idle reset is JavaScript
# on the normal pages only).
KIOSK_REFRESH_SECONDS = 60


@dataclass(frozen=True)
class Place:
    """Where the failing request was, and the link that leads on from there."""

    area: str  # "online", "order", "kiosk", "kiosk_visit", "admin"
    way_on_url: str
    way_on_label: str

    @property
    def kiosk(self) -> bool:
        return self.area in ("kiosk", "kiosk_visit")


def place_of(path: str) -> Place:
    relative = path.lstrip("/")
    order = ORDER_RE.match(relative)
    if order:
        url = reverse("ordering:order", args=[order["number"], order["token"]])
        return Place("order", url, gettext("Back to your order"))
    if relative.startswith("kiosk/"):
        visit = KIOSK_GUEST_RE.match(relative.removeprefix("kiosk/"))
        if visit:
            # The confirming page sends the visit on to wherever its order stands.
            url = reverse("kiosk:confirming", args=[visit["guest_id"]])
            return Place("kiosk_visit", url, gettext("Continue"))
        return Place("kiosk", reverse("kiosk:attract"), gettext("Back to the start"))
    if relative.startswith("admin/"):
        return Place("admin", reverse("admin:index"), gettext("Back to the staff admin"))
    return Place("online", reverse("ordering:menu"), gettext("Back to the menu"))


def _render(
    request, template: str, status: int, place: Place | None = None, **context
) -> HttpResponse:
    place = place or place_of(getattr(request, "path", "") or "")
    full = {
        "place": place,
        "kiosk": place.kiosk,
        "refresh_seconds": KIOSK_REFRESH_SECONDS,
        "menu_url": reverse("ordering:menu"),
        **context,
    }
    # No request: no context processors (auth, messages, sessions) that could fail here.
    body = loader.get_template(template).render(full)
    response = HttpResponse(body, status=status)
    add_never_cache_headers(response)  # a kiosk's back button never shows an old one again
    return response


def bad_request(request, exception=None, template_name="400.html"):
    """A malformed request, a body over DATA_UPLOAD_MAX_MEMORY_SIZE, too many fields…"""
    return _render(request, template_name, 400)


def permission_denied(request, exception=None, template_name="403.html"):
    return _render(request, template_name, 403)


def page_not_found(request, exception=None, template_name="404.html"):
    place = place_of(getattr(request, "path", "") or "")
    if place.area == "order":  # no such order: leading "back" to it would loop
        place = Place("order", reverse("ordering:menu"), gettext("Start a new order"))
    return _render(request, template_name, 404, place)


def server_error(request, template_name="500.html"):
    return _render(request, template_name, 500)


def csrf_failure(request, reason="", template_name="403_csrf.html"):
    """CSRF_FAILURE_VIEW: the form was stale (a page left open, a new visit, cookies cleared)."""
    payment_form = bool(PAYMENT_FORM_RE.match((request.path or "").lstrip("/")))
    return _render(request, template_name, 403, payment_form=payment_form)
