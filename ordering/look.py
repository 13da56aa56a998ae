"""A store's look on guest pages, in one place: its colours as CSS custom properties.

`{% store_theme store %}` (ordering/templatetags/store_look.py) renders `templates/_store_theme.html`:
a `<style>` element carrying the request's CSP nonce, which the policy (config/security.py) allows
while it refuses every other inline style. Stylesheets read:

- `--brand`, `--on-brand`: the primary colour and the text on it (black or white);
- `--accent`, `--on-accent`: the accent colour and the text on it;
- `--brand-ink`, `--accent-ink`: each colour as text on the pages' light backgrounds.

Each stylesheet keeps its own colour as the fallback (`var(--brand, #0b3d91)`), so a page
without a store (a kiosk not enrolled yet) looks as it always did.
"""

from dataclasses import dataclass

from ordering import colors
from ordering.models import Order, Store

_DEFAULT_PRIMARY = Store._meta.get_field("primary_color").default
_DEFAULT_ACCENT = Store._meta.get_field("accent_color").default


@dataclass(frozen=True)
class Theme:
    brand: str
    on_brand: str
    brand_ink: str
    accent: str
    on_accent: str
    accent_ink: str


def _valid(color: str, default: str) -> str:
    # The admin validates; a value written some other way (a shell, a fixture) never reaches CSS.
    color = colors.normalize_hex_color(color)
    return color if colors.HEX_COLOR.fullmatch(color) else default


def theme_for(store: Store) -> Theme:
    brand = _valid(store.primary_color, _DEFAULT_PRIMARY)
    accent = _valid(store.accent_color, _DEFAULT_ACCENT)
    return Theme(
        brand=brand,
        on_brand=colors.text_color_on(brand),
        brand_ink=colors.ink_on_light_page(brand),
        accent=accent,
        on_accent=colors.text_color_on(accent),
        accent_ink=colors.ink_on_light_page(accent),
    )


def online_store(request, order=None) -> Store | None:
    """The store an online page shows. On an order's page, the order's store: the order was read
    with it (`selectors.order_for_guest`), so it costs no query. Otherwise the first store taking
    online orders (as checkout picks it), read once per request however often a page asks; None
    when there is none yet."""
    if isinstance(order, Order) and Order._meta.get_field("store").is_cached(order):
        return order.store
    if request is None:
        return Store.objects.filter(takes_online_orders=True).first()
    if not hasattr(request, "_online_store"):
        request._online_store = Store.objects.filter(takes_online_orders=True).first()
    return request._online_store
