"""What every kiosk page needs: the device check, the visit check, redirects and rendering.

Every request is checked twice before a view runs: the device credential (`device_view`: an
unenrolled browser only ever sees the enrollment prompt, a disabled kiosk an out-of-service
screen) and, for guest pages, the guest id in the URL against the session (`guest_view`: a page of
an earlier visit, reached with the back button, never shows). Every response is `no-store`.
Actions are POST and answer with a redirect; the logic is in `kiosk.services` and ordering's.
"""

import logging
from functools import wraps

from django.middleware.csrf import rotate_token
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django_htmx.http import HttpResponseClientRedirect

from config.http import SeeOther
from ecard_integration.errors import InvalidInput
from kiosk import services
from kiosk.guest import GuestSession
from ordering import services as ordering_services
from ordering.cart import Cart
from ordering.models import OrderStatus
from ordering.pins import throttle

logger = logging.getLogger(__name__)

IN_FLIGHT = (OrderStatus.PAYING, OrderStatus.PAYMENT_PENDING)


def go(request, url: str):
    """A redirect that htmx follows as a whole-page navigation."""
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return SeeOther(url)


# --- The device credential ----------------------------------------------------------------------


def set_device_cookie(response, kiosk) -> None:
    response.set_cookie(
        services.COOKIE_NAME,
        services.issue_credential(kiosk),
        max_age=min(services.credential_max_age_seconds(), 400 * 24 * 60 * 60),
        path=services.COOKIE_PATH,
        secure=services.cookie_secure(),
        httponly=True,
        samesite="Strict",
    )


def delete_device_cookie(response) -> None:
    response.delete_cookie(services.COOKIE_NAME, path=services.COOKIE_PATH, samesite="Strict")


def device_view(view):
    """Check the device credential on every request; no-store on every response."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        check = services.authenticate_device(request.COOKIES.get(services.COOKIE_NAME))
        if check.status == "inactive":
            response = out_of_service(request)
        elif not check.ok:
            if GuestSession(request.session).has_anything():
                services.wipe_guest_session(session=request.session)
            response = go(request, reverse("kiosk:enroll"))
            if check.status != "missing":
                delete_device_cookie(response)
        else:
            request.kiosk = check.kiosk
            response = view(request, *args, **kwargs)
            if check.reissue:
                set_device_cookie(response, check.kiosk)
        add_never_cache_headers(response)
        return response

    return wrapper


def out_of_service(request):
    if GuestSession(request.session).has_anything():
        services.wipe_guest_session(session=request.session)
    if request.htmx:  # a poll: the whole page moves to the out-of-service screen
        return HttpResponseClientRedirect(reverse("kiosk:attract"))
    return render(request, "kiosk/out_of_service.html", status=503)


# --- Guest pages --------------------------------------------------------------------------------


def guest_view(view=None, *, poll: bool = False):
    """A page of one guest's visit: `/kiosk/g/<guest id>/…`, the id checked against the session.

    A visit idle for longer than the idle time, the countdown and some slack is ended here even if
    the page's JavaScript did not, unless a payment is in flight or its receipt is still to be
    shown (`services.idle_reset_waits`). `poll`: htmx polling, which
    does not count as the guest touching the screen.
    """

    def decorate(view):
        @device_view
        @wraps(view)
        def wrapper(request, guest_id, *args, **kwargs):
            guest = GuestSession(request.session)
            if not guest.belongs_to(guest_id, request.kiosk):
                return go(request, guest_home(guest, request.kiosk))
            idle = guest.idle_seconds() > services.server_idle_limit_seconds()
            if idle and not services.idle_reset_waits(guest, guest.order()):
                services.wipe_guest_session(session=request.session)
                rotate_token(request)
                return go(request, reverse("kiosk:attract"))
            if not poll:
                guest.touch()
            request.guest = guest
            return view(request, *args, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate


def guest_home(guest: GuestSession, kiosk) -> str:
    """Where a stray or stale page sends the browser: the current visit's page, or the start."""
    if guest.id is None or not guest.belongs_to(guest.id, kiosk):
        return reverse("kiosk:attract")
    if guest.session.get("kiosk_order"):
        return url(guest, "pay")
    return url(guest, "menu")


def url(guest: GuestSession, name: str, *args) -> str:
    return reverse(f"kiosk:{name}", args=[guest.id, *args])


def page(request, template: str, context: dict | None = None, *, status=200, suspend_idle=False):
    """Render a guest page with what every one needs: the visit, idle settings, the message."""
    guest = request.guest
    full = {
        "kiosk": request.kiosk,
        "guest_id": guest.id,
        "accessible": guest.accessible,
        # Where the accessibility switch comes back to without JavaScript (a GET page only).
        "here": request.path if request.method == "GET" else "",
        # "Start over" asks first when it would throw something away.
        "has_order": bool(guest.session.get("kiosk_order")),
        "idle_seconds": services.idle_seconds(),
        "idle_countdown_seconds": services.idle_countdown_seconds(),
        "suspend_idle": suspend_idle,
        "flash": guest.pop_flash(),
        "cart": Cart(request.session),
        **(context or {}),
    }
    return render(request, template, full, status=status)


# A PIN attempt refused before anything was sent.
PIN_REFUSALS = (
    InvalidInput,
    ordering_services.LastTryError,
    ordering_services.PinThrottledError,
    throttle.ThrottleUnavailableError,
)


def pin_refused(
    guest: GuestSession, exc: Exception, *, again: str, back: str, forget, note: str = ""
) -> SeeOther:
    """Nothing was sent. Blocked: the card is forgotten (`forget`) and the guest goes `back`;
    otherwise to the PIN page `again` (which itself shows a last-try notice). `note`: a second
    sentence for the message (a payment's "Nothing was charged.")."""
    if isinstance(exc, ordering_services.PinThrottledError):
        forget()
        guest.flash(exc.message, "error", note=note)
        return SeeOther(url(guest, back))
    if not isinstance(exc, ordering_services.LastTryError):
        guest.flash(exc.message, "error", note=note)
    return SeeOther(url(guest, again))
