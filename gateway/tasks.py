"""Celery tasks, used when CELERY_BROKER_URL is set. Each only calls the
idempotent function that does the work, so a task run twice (acks_late after
a worker died) does no harm. Beat runs `sweep` (CELERY_BEAT_SCHEDULE)."""

from celery import shared_task

from gateway import worker


@shared_task(name="gateway.tasks.process_message", acks_late=True, ignore_result=True)
def process_message(message_id):
    worker.process(message_id)


@shared_task(name="gateway.tasks.deliver", acks_late=True, ignore_result=True)
def deliver(delivery_id):
    from gateway.delivery import deliver as deliver_now

    deliver_now(delivery_id)


@shared_task(name="gateway.tasks.sweep", ignore_result=True)
def sweep():
    return worker.sweep()
