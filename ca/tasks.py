"""Periodic certificate work for Celery beat (and the embedded worker)."""

from celery import shared_task

from . import crls


@shared_task(name="ca.tasks.refresh_crls")
def refresh_crls():
    return crls.refresh()
