"""The store's look in templates (ordering/look.py).

`{% store_theme kiosk.store %}` or, on online pages, `{% store_theme %}` (the online store):
the store's colours as CSS custom properties. `{% online_store as store %}` gives online pages
the store for its name, logo and images: an order's page shows the order's store (read with the
order), any other the online store (one query per request, shared with the theme).
"""

from django import template

from ordering import look

register = template.Library()

_ONLINE = object()


@register.inclusion_tag("_store_theme.html", takes_context=True)
def store_theme(context, store=_ONLINE):
    if store is _ONLINE:
        store = look.online_store(context.get("request"), context.get("order"))
    # Without the request's nonce the policy would refuse the style (and log an error).
    nonce = context.get("csp_nonce", "")
    return {"theme": look.theme_for(store) if store and nonce else None, "csp_nonce": nonce}


@register.simple_tag(takes_context=True)
def online_store(context):
    return look.online_store(context.get("request"), context.get("order"))
