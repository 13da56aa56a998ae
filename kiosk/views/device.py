"""Kiosk pages: enrollment, the attract screen, starting and ending a visit."""

import logging

from django.http import HttpResponse
from django.middleware.csrf import rotate_token
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config.http import SeeOther
from config.security import client_ip
from kiosk import services
from kiosk.forms import EnrollForm
from kiosk.guest import GuestSession
from kiosk.views.common import (
    device_view,
    go,
    guest_home,
    guest_view,
    page,
    set_device_cookie,
    url,
)

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
    # A visit left open (the back button, or accessibility mode switched on here): the idle
    # countdown still ends it.
    mine = guest.data and guest.data.get("kiosk") == request.kiosk.id
    return render(
        request,
        "kiosk/attract.html",
        {
            "kiosk": request.kiosk,
            "guest_id": guest.id if mine else None,
            "accessible": bool(mine and guest.accessible),
            "here": reverse("kiosk:attract"),
            "idle_seconds": services.idle_seconds(),
            "idle_countdown_seconds": services.idle_countdown_seconds(),
        },
    )


@device_view
@require_POST
def start(request):
    """A new visit (whatever the session held ends). `next`: the menu, the balance check, or the
    attract screen itself (its accessibility or language switch); `accessible` and `language`
    carry the mode and the language into it."""
    guest_id = services.start_guest_session(session=request.session, kiosk=request.kiosk)
    guest = GuestSession(request.session)
    guest.set_accessible(request.POST.get("accessible") == "1")
    guest.set_language(request.POST.get("language"))
    rotate_token(request)
    following = request.POST.get("next")
    if following == "attract":
        return SeeOther(reverse("kiosk:attract"))
    name = "balance" if following == "balance" else "menu"
    return SeeOther(reverse(f"kiosk:{name}", args=[guest_id]))


@guest_view
@require_http_methods(["GET", "POST"])
def end(request):
    """The guest is done, or the idle countdown ran out: wipe the visit, back to the start.
    GET (the "Start over" link, without JavaScript) asks first."""
    if request.method == "GET":
        back = guest_home(request.guest, request.kiosk)
        return page(request, "kiosk/start_over.html", {"back": back})
    services.wipe_guest_session(session=request.session)
    rotate_token(request)
    return go(request, reverse("kiosk:attract"))


@guest_view
@require_POST
def accessibility(request):
    """Accessibility mode on or off for the rest of the visit. From kiosk.js (fetch): 204, the
    page switches itself; without JavaScript, back to the page it was pressed on."""
    guest = request.guest
    guest.set_accessible(request.POST.get("accessible") == "1")
    if request.headers.get("X-Kiosk-Fetch") == "1":
        return HttpResponse(status=204)
    return SeeOther(_back_to(request, guest))


@guest_view
@require_POST
def language(request):
    """The language switch ("Español" / "English") for the rest of the visit, back to the page it
    was pressed on (POST, then a redirect: the page comes back in the new language)."""
    guest = request.guest
    guest.set_language(request.POST.get("language"))
    return SeeOther(_back_to(request, guest))


def _back_to(request, guest) -> str:
    """The page a switch was pressed on, if it is the attract screen or one of this visit's."""
    back = request.POST.get("next", "")
    visit_prefix = url(guest, "menu").removesuffix("menu/")  # this visit's pages only
    mine = back == reverse("kiosk:attract") or back.startswith(visit_prefix)
    if mine and url_has_allowed_host_and_scheme(back, allowed_hosts=None):
        return back
    return guest_home(guest, request.kiosk)


@guest_view
@require_POST
def touch(request):
    """Keep-alive from the page while the guest is touching it (no other request may happen)."""
    return HttpResponse(status=204)
