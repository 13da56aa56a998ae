from django.contrib import admin
from django.http import HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import include, path
from django.views.decorators.http import require_safe

from config import health
from ecard_integration.admin.dashboard import operations_view
from ordering import media

# The site's own error pages (config/views.py); CSRF failures: CSRF_FAILURE_VIEW in settings.
handler400 = "config.views.bad_request"
handler403 = "config.views.permission_denied"
handler404 = "config.views.page_not_found"
handler500 = "config.views.server_error"


@require_safe
def favicon(request):
    """/favicon.ico, asked for by browsers whatever the page's <link rel="icon"> says: the SVG.

    A day's cache on the redirect, not a permanent one's forever: it names a hashed file that a
    later deployment replaces.
    """
    response = HttpResponsePermanentRedirect(static("favicon.svg"))
    response["Cache-Control"] = "public, max-age=86400"
    return response


urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("media/<path:name>", media.serve, name="media"),
    path("favicon.ico", favicon, name="favicon"),
    # Staff's operations dashboard, inside the admin (its login, its CSP), linked from its index.
    path("admin/operations/", admin.site.admin_view(operations_view), name="operations_dashboard"),
    path("admin/", admin.site.urls),
    path("kiosk/", include("kiosk.urls")),
    path("", include("ordering.urls")),
]
