"""`{{ amount|money }}`: the one way a template shows an amount ("$10.00", in every language)."""

from django import template

from ordering.selectors import money_text

register = template.Library()


@register.filter(name="money")
def money_filter(value) -> str:
    """ "$10.00" from a Decimal (or a Decimal's string, as the session keeps it); nothing for None."""
    if value is None or value == "":
        return ""
    return money_text(value)
