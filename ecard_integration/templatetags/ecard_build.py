"""`{% certified_build as build %}`: the running build against the certified one (fingerprint.py),
for the admin index."""

from django import template

from ecard_integration.fingerprint import current_build

register = template.Library()


@register.simple_tag
def certified_build():
    return current_build()
