from django.urls import path

from portal import views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.login_view, name="login"),
    path("login/code/", views.login_code, name="login-code"),
    path("logout/", views.logout_view, name="logout"),
    path("logout/everywhere/", views.logout_everywhere, name="logout-everywhere"),
    path("security/", views.security, name="security"),
    path("security/totp/", views.totp_enrol, name="totp-enrol"),
    path("activate/<str:token>/", views.activate, name="activate"),
    path("activate/<str:token>/code/", views.activate_code, name="activate-code"),
    path("pickup/<str:token>/", views.pickup_page, name="pickup"),
    path("pickup/<int:pk>/download/<str:form>/", views.pickup_download, name="pickup-download"),
]
