"""Template helpers for the site pages."""

from django import template

from ordering.cart import Cart

register = template.Library()


@register.simple_tag(takes_context=True)
def cart_count(context) -> int:
    """How many items are in the guest's cart (0 without a session)."""
    request = context.get("request")
    session = getattr(request, "session", None)
    return Cart(session).count if session is not None else 0


@register.simple_tag
def field_widget(field):
    """Render a field's widget described by its help text and its error, for screen readers."""
    ids = []
    if field.help_text:
        ids.append(f"{field.auto_id}-help")
    if field.errors:
        ids.append(f"{field.auto_id}-error")
    return field.as_widget(attrs={"aria-describedby": " ".join(ids)} if ids else None)
