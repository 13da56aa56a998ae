"""The baselines of scenario A: what a bare POST costs on the payment's stack and settings.

(a) `bare_post`: the session loaded (created on a guest's first POST, as the payment's
`session_key` does) and the CSRF token checked by the middleware, as for the payment POST; 204.
(b) `write_post`: the same plus one INSERT and one UPDATE through the ORM, each its own
autocommit transaction, as the payment writes its rows.

Only bench/urls.py routes here (bench/settings.py); production's URLconf never does.
"""

from django.http import HttpResponse
from django.views.decorators.http import require_POST

from bench.models import BaselineWrite
from ordering.views.common import session_key


@require_POST
def bare_post(request):
    session_key(request)
    request.session.get("bench")  # the session row is read, as the payment's view reads it
    return HttpResponse(status=204)


@require_POST
def write_post(request):
    key = session_key(request)
    request.session.get("bench")
    row = BaselineWrite.objects.create(session_key=key)
    BaselineWrite.objects.filter(pk=row.pk, state="new").update(state="done")
    return HttpResponse(status=204)
