"""The portal API under /api/portal/: the secure inbox."""

from rest_framework.routers import DefaultRouter

from . import views

router = DefaultRouter()
router.include_format_suffixes = False
router.register("inbox", views.InboxViewSet, basename="portal-inbox")
router.register("sent", views.SentViewSet, basename="portal-sent")

urlpatterns = router.urls
