"""Content Security Policy with a per-request nonce; no inline script is ever allowed.

Guest pages load scripts and styles from our own origin only. The nonce is there for the rare
`<script nonce="{{ csp_nonce }}">` a template may need; none of ours needs one today.
"""

import ipaddress
import secrets

from django.conf import settings
from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.http import Http404


def _policy(nonce: str, *, admin: bool) -> str:
    # Django's admin sets a few inline style attributes; scripts stay locked down everywhere.
    style = "'self' 'unsafe-inline'" if admin else f"'self' 'nonce-{nonce}'"
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}'",
            f"style-src {style}",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.admin_prefix = "/admin/"

    def __call__(self, request):
        request.csp_nonce = secrets.token_urlsafe(16)
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = _policy(
                request.csp_nonce, admin=request.path.startswith(self.admin_prefix)
            )
        response.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        response.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        return response


def csp_nonce(request):
    """Template context: `{{ csp_nonce }}`."""
    return {"csp_nonce": getattr(request, "csp_nonce", "")}


def client_ip(request) -> str:
    """The address a request came from, for per-address limits (guest PIN throttling).

    Behind `TRUSTED_PROXY_COUNT` reverse proxies, `REMOTE_ADDR` is the nearest proxy's address for
    every guest; each proxy appends the address it was reached from to `X-Forwarded-For`, so the
    client is the entry that many places from the right (anything further left was sent by the
    client and is not trusted). Without proxies, or without a usable header, `REMOTE_ADDR`.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    count = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0) or 0)
    if count <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if not forwarded:
        return remote
    candidate = forwarded[-min(count, len(forwarded))]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


# Raised before a view sends anything (a bad or oversized request, no such page): Django's own
# handlers answer them with the site's 400/403/404 pages, never a payment's "being confirmed".
CLIENT_ERRORS = (Http404, SuspiciousOperation, BadRequest, PermissionDenied)
