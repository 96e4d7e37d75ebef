from django.apps import AppConfig


class DlpConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "dlp"
