from django.contrib import admin
from django.urls import include, path

from config import health
from ordering import media

# The site's own error pages (config/views.py); CSRF failures: CSRF_FAILURE_VIEW in settings.
handler400 = "config.views.bad_request"
handler403 = "config.views.permission_denied"
handler404 = "config.views.page_not_found"
handler500 = "config.views.server_error"

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("media/<path:name>", media.serve, name="media"),
    path("admin/", admin.site.urls),
    path("kiosk/", include("kiosk.urls")),
    path("", include("ordering.urls")),
]
