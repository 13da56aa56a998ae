"""Card searches in the staff admin: a full card number is never searched in `?q=` (the address
would carry it), and a card is found by its full number through a POST whose result the list
filters by an opaque session token (`CardFilter`). Shared by the ordering admin."""

import re
import secrets

from django.contrib import admin, messages
from django.http import HttpResponseRedirect

from config.http import SeeOther
from ecard_integration import crypto

CARD_NUMBER_LIKE = re.compile(r"[0-9]{12,19}")
# The staff session keeps the cards found by full number: an opaque token → the card's keyed hash.
CARD_SEARCHES_SESSION_KEY = "ecard_card_searches"
CARD_SEARCHES_KEPT = 20


def looks_like_card_number(term: str) -> bool:
    """12 to 19 digits once spaces and dashes are dropped: never searched, never echoed."""
    return bool(CARD_NUMBER_LIKE.fullmatch(term.strip().replace(" ", "").replace("-", "")))


def without_param(request, name: str) -> str:
    """The request's path and query string with one parameter dropped."""
    params = request.GET.copy()
    params.pop(name, None)
    query = params.urlencode()
    return f"{request.path}?{query}" if query else request.path


def refuse_card_number_search(model_admin, request) -> HttpResponseRedirect | None:
    """A full card number in a changelist's `?q=` is refused: the address would carry it (it is
    already in the access log; at least no page, link or redirect repeats it)."""
    if not looks_like_card_number(request.GET.get("q", "")):
        return None
    model_admin.message_user(
        request,
        "Card numbers are never searched in the search box, because the page address would "
        "carry the number. Use \u201cFind a card by its full number\u201d on the transaction "
        "list.",
        messages.WARNING,
    )
    return SeeOther(without_param(request, "q"))


class CardFilter(admin.SimpleListFilter):
    """Transactions of one card found by its full number (`find_card_view`): the URL carries an
    opaque token from the staff session, never the number nor its hash."""

    title = "card found by full number"
    parameter_name = "card"

    def lookups(self, request, model_admin):
        found = card_searches(request).get(self.value() or "")
        return [(self.value(), f"\u2022\u2022\u2022\u2022 {found['last4']}")] if found else []

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        found = card_searches(request).get(self.value())
        return queryset.filter(card_hash=found["hash"]) if found else queryset.none()


def card_searches(request) -> dict:
    return request.session.get(CARD_SEARCHES_SESSION_KEY, {})


def remember_card_search(request, number: str) -> str:
    """Keep a card found by its full number in the staff session; the token names it in URLs."""
    token = secrets.token_urlsafe(12)
    searches = dict(card_searches(request))
    searches[token] = {"hash": crypto.card_hash(number), "last4": number[-4:]}
    # The newest few only: a session never grows without bound.
    request.session[CARD_SEARCHES_SESSION_KEY] = dict(list(searches.items())[-CARD_SEARCHES_KEPT:])
    return token
