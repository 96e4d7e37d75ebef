from rest_framework.routers import DefaultRouter

from . import views

router = DefaultRouter()
router.include_format_suffixes = False
router.register("certificates", views.CertificateViewSet, basename="certificate")
router.register("selection", views.SelectionViewSet, basename="selection")
router.register("authorities", views.AuthorityViewSet, basename="authority")
router.register("trust-list", views.TrustListViewSet, basename="trust-list")
router.register("crls", views.RevocationListViewSet, basename="crl")

urlpatterns = router.urls
