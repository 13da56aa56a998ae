"""A payment request that fails part-way (e.g. the database went away after the redeem may have
been sent) answers a page saying the payment is being confirmed, never a bare 500: reconciliation
and the order sweep settle the order. Used by online ordering and the kiosk."""

import logging
from functools import wraps

from django.http import HttpResponse
from django.template.loader import render_to_string
from django.utils.cache import add_never_cache_headers

from config.security import CLIENT_ERRORS

logger = logging.getLogger(__name__)


def interrupted_payment_page(answer):
    """Decorate a payment view: when it fails unexpectedly, `answer(request, *args, **kwargs)`
    gives the page (see `interrupted_page`). Client errors (404, 400, 403) pass through."""

    def decorate(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            try:
                return view(request, *args, **kwargs)
            except CLIENT_ERRORS:
                raise
            except Exception:  # noqa: BLE001 - e.g. DatabaseError after the send: never a bare 500
                logger.exception("payment request %s failed part-way", view.__name__)
                request.session.modified = False  # it could not be saved
                return answer(request, *args, **kwargs)

        return wrapper

    return decorate


def interrupted_page(template: str, context: dict, *, retry_after: int) -> HttpResponse:
    """The 503 page, rendered without the request or the database."""
    html = render_to_string(template, context)
    response = HttpResponse(html, status=503, headers={"Retry-After": str(retry_after)})
    add_never_cache_headers(response)
    return response
