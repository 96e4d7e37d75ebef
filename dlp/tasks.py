"""Celery beat (or the embedded worker) runs the quarantine's expiry."""

from celery import shared_task

from dlp import services


@shared_task(name="dlp.tasks.expire_quarantine", ignore_result=True)
def expire_quarantine():
    return services.expire()
