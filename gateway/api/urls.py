"""The API under /api/: domains, users, settings at every level, effective
settings, messages. The schema is at /api/schema/ (lockpost.urls)."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from . import settings_views, views

router = DefaultRouter()
# Domain names and addresses hold dots: a ".json" suffix would be ambiguous.
router.include_format_suffixes = False
router.register("domains", views.DomainViewSet, basename="domain")
router.register("users", views.MailUserViewSet, basename="user")
router.register("messages", views.MessageViewSet, basename="message")

LIST = {"get": "list", "post": "create"}
ONE = {"get": "retrieve", "put": "update", "delete": "destroy"}

urlpatterns = [
    path("settings/", settings_views.GlobalSettings.as_view(LIST), name="global-settings"),
    path("settings/<str:key>/", settings_views.GlobalSettings.as_view(ONE), name="global-setting"),
    path("domains/<str:name>/settings/", settings_views.DomainSettings.as_view(LIST), name="domain-settings"),
    path("domains/<str:name>/settings/<str:key>/", settings_views.DomainSettings.as_view(ONE), name="domain-setting"),
    path("users/<str:email>/settings/", settings_views.UserSettings.as_view(LIST), name="user-settings"),
    path("users/<str:email>/settings/<str:key>/", settings_views.UserSettings.as_view(ONE), name="user-setting"),
    path("effective/<str:name>/", settings_views.EffectiveSettings.as_view(), name="effective-settings"),
    path("definitions/", settings_views.Definitions.as_view(), name="setting-definitions"),
    *router.urls,
]
