"""What the online guest pages share (menu, cart, checkout, the order and its payment).

Views translate requests into service calls and back. Every page that shows an order, a card
form or a receipt is `never_cache` (Cache-Control: no-store). Actions are POST and answer with a
redirect (post/redirect/get), so a reload never resubmits a payment; the form's `attempt_key`
covers a resubmission anyway.
"""

from config import security
from config.http import SeeOther

KEPT_CARD_SESSION_KEY = "ordering_kept_card"
OFFER_SESSION_KEY = "ordering_offer"
ORDER_SESSION_KEY = "ordering_order"


def see_other(url: str) -> SeeOther:
    return SeeOther(url)


def session_key(request) -> str:
    if not request.session.session_key:
        request.session.save()
    return request.session.session_key


def client_ip(request) -> str:
    # Behind the TLS proxy REMOTE_ADDR is the proxy's for every guest: see config.security.
    return security.client_ip(request)


def show_error(form, message: str, field: str | None = None) -> None:
    """Put a sentence on a fresh (unbound) form, where its errors are shown: after a redirect
    the next page says why on the form itself. An unbound form has no `cleaned_data` for
    `add_error` to tidy."""
    if not hasattr(form, "cleaned_data"):
        form.cleaned_data = {}
    form.add_error(field, message)
