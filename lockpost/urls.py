from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/ca/", include("ca.api.urls")),
    path("api/dlp/", include("dlp.api.urls")),
    path("api/", include("gateway.api.urls")),
    path("ca/", include("ca.urls")),
    path("api/portal/", include("portal.api.urls")),
    path("portal/", include("portal.urls")),
    # Where links in mail point: /reply/<token>/ (PDF) and /quarantine/<id>/ (DLP notices).
    path("", include("portal.site_urls")),
]
