"""The doorbell: tells a worker that a message (or a delivery) is waiting.

The database is the source of truth; a ring only saves the sweeper some
waiting. With CELERY_BROKER_URL set a ring is a Celery task; without, it goes
to the embedded worker's in-process queue. A ring never raises: a lost ring
is logged and repaired by gateway.worker.sweep."""

import logging

from django.conf import settings

log = logging.getLogger(__name__)

# Publishing to a broker that is down must not hold up the LMTP listener for
# long: the message is already safe in the spool.
PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}


def ring(message_id):
    """Ask a worker to process a spooled message. Returns whether a worker
    (or the broker) took the ring; False leaves it to the sweeper."""
    return _ring("message", message_id)


def ring_delivery(delivery_id):
    """Ask a worker to send (or retry) a delivery. Returns as ring() does."""
    return _ring("delivery", delivery_id)


def _ring(kind, object_id):
    try:
        if settings.CELERY_BROKER_URL:
            from gateway import tasks

            task = tasks.process_message if kind == "message" else tasks.deliver
            task.apply_async(args=[object_id], retry=True, retry_policy=PUBLISH_RETRY)
            return True
        from gateway import embedded

        return embedded.submit(kind, object_id)
    except Exception:
        log.warning("ring for %s %s lost; the sweeper will ring again", kind, object_id, exc_info=True)
        return False
