"""Portal pages at the site root, where links in mail point: the PDF's Reply
button (/reply/<token>/) and DLP notices (/quarantine/<id>/)."""

from django.urls import path

from portal import quarantine_views, reply

app_name = "site"

urlpatterns = [
    path("reply/<str:token>/", reply.reply_page, name="reply"),
    path("quarantine/", quarantine_views.listing, name="quarantine"),
    path("quarantine/<int:pk>/", quarantine_views.detail, name="quarantine-detail"),
    path("quarantine/<int:pk>/release/", quarantine_views.release, name="quarantine-release"),
    path("quarantine/<int:pk>/delete/", quarantine_views.delete, name="quarantine-delete"),
    path("quarantine/<int:pk>/download/", quarantine_views.download, name="quarantine-download"),
]
