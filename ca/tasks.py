"""Periodic certificate work for Celery beat (and the embedded worker)."""

from celery import shared_task

from . import crls, ocsp


@shared_task(name="ca.tasks.refresh_crls")
def refresh_crls():
    return crls.refresh()


@shared_task(name="ca.tasks.refresh_ocsp")
def refresh_ocsp():
    return ocsp.refresh()
