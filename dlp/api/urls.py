"""The DLP API under /api/dlp/."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from . import views

router = DefaultRouter()
router.include_format_suffixes = False
router.register("rules", views.RuleViewSet, basename="dlp-rule")
router.register("exemptions", views.ExemptionViewSet, basename="dlp-exemption")
router.register("quarantine", views.QuarantineViewSet, basename="dlp-quarantine")

urlpatterns = [
    path("effective/<str:address>/", views.EffectiveRules.as_view(), name="dlp-effective"),
    *router.urls,
]
