from django.urls import path

from . import views

urlpatterns = [
    path("<int:pk>.crl", views.revocation_list, name="ca-crl"),
    path("<int:pk>.crt", views.authority_certificate, name="ca-certificate"),
]
