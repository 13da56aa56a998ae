from django.contrib import admin
from django.urls import include, path

from config import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("kiosk/", include("kiosk.urls")),
    path("", include("ordering.urls")),
]
