"""Kiosk pages: enrollment, the attract screen, starting and ending a visit."""

import logging

from django.http import HttpResponse
from django.middleware.csrf import rotate_token
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config.http import SeeOther
from config.security import client_ip
from kiosk import services
from kiosk.forms import EnrollForm
from kiosk.guest import GuestSession
from kiosk.views.common import device_view, go, guest_view, set_device_cookie

logger = logging.getLogger(__name__)


# --- Enrollment and the attract screen ----------------------------------------------------------


def _enroll_response(request, form, *, status=200, code_in_link=False, error=""):
    return render(
        request,
        "kiosk/enroll.html",
        {"form": form, "code_in_link": code_in_link, "error": error},
        status=status,
    )


@require_http_methods(["GET", "POST"])
def enroll(request):
    """Enroll this browser as a kiosk with a one-time code from the staff admin."""
    if request.method == "GET":
        response = _enroll_response(request, EnrollForm())
    else:
        response = _enroll_post(request, EnrollForm(request.POST))
    add_never_cache_headers(response)
    return response


@require_http_methods(["GET", "POST"])
def enroll_link(request, code):
    """The link form of a code: GET only asks to confirm (link previews must not use it up)."""
    form = EnrollForm(request.POST if request.method == "POST" else None, initial={"code": code})
    if request.method == "POST":
        response = _enroll_post(request, form)
    else:
        response = _enroll_response(request, form, code_in_link=True)
    add_never_cache_headers(response)
    return response


def _enroll_post(request, form):
    if not form.is_valid():
        return _enroll_response(request, form, status=400)
    try:
        kiosk = services.enroll(code=form.cleaned_data["code"], ip=client_ip(request))
    except services.EnrollmentError as exc:
        return _enroll_response(request, EnrollForm(), status=400, error=exc.message)
    if GuestSession(request.session).has_anything():
        services.wipe_guest_session(session=request.session)
    rotate_token(request)
    response = SeeOther(reverse("kiosk:attract"))
    set_device_cookie(response, kiosk)
    return response


@device_view
@require_GET
def attract(request):
    guest = GuestSession(request.session)
    return render(
        request,
        "kiosk/attract.html",
        {
            "kiosk": request.kiosk,
            # A visit left open (the back button): the idle countdown still ends it.
            "guest_id": guest.id
            if guest.data and guest.data.get("kiosk") == request.kiosk.id
            else None,
            "idle_seconds": services.idle_seconds(),
            "idle_countdown_seconds": services.idle_countdown_seconds(),
        },
    )


@device_view
@require_POST
def start(request):
    guest_id = services.start_guest_session(session=request.session, kiosk=request.kiosk)
    rotate_token(request)
    name = "balance" if request.POST.get("next") == "balance" else "menu"
    return SeeOther(reverse(f"kiosk:{name}", args=[guest_id]))


@guest_view
@require_POST
def end(request):
    """The guest is done, or the idle countdown ran out: wipe the visit, back to the start."""
    services.wipe_guest_session(session=request.session)
    rotate_token(request)
    return go(request, reverse("kiosk:attract"))


@guest_view
@require_POST
def touch(request):
    """Keep-alive from the page while the guest is touching it (no other request may happen)."""
    return HttpResponse(status=204)
