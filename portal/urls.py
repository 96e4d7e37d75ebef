from django.urls import path

from portal import inbox_views, views

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
    path("inbox/", inbox_views.inbox, name="inbox"),
    path("inbox/write/", inbox_views.write, name="inbox-write"),
    path("inbox/sent/", inbox_views.sent, name="inbox-sent"),
    path("inbox/sent/<int:pk>/revoke/", inbox_views.revoke, name="inbox-revoke"),
    path("inbox/<int:pk>/", inbox_views.message, name="inbox-message"),
    path("inbox/<int:pk>/body/", inbox_views.body, name="inbox-body"),
    path("inbox/<int:pk>/attachments/<int:index>/", inbox_views.attachment, name="inbox-attachment"),
]
