"""Periodic portal work for Celery beat (and the embedded worker)."""

from celery import shared_task

from portal import pickup


@shared_task(name="portal.tasks.purge_pickups")
def purge_pickups():
    return pickup.purge_expired()


@shared_task(name="portal.tasks.purge_inbox")
def purge_inbox():
    from portal import services

    return services.purge()
