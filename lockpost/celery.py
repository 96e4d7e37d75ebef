"""The Celery app. Used only when CELERY_BROKER_URL is set; without a broker
`manage.py gateway` runs an embedded worker instead."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lockpost.settings")

app = Celery("lockpost")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
