"""The doorbell: tells a worker that a message is waiting. The database is the
source of truth; a lost ring is repaired by the sweeper."""

# CONTRACT (to be implemented):
# ring(message_id: int) -> None
#   With CELERY_BROKER_URL set: gateway.tasks.process_message.delay(message_id).
#   Without: hands the id to the embedded worker's in-process queue
#   (gateway.embedded). Never raises: a failed ring is logged and left to the sweeper.
# ring_delivery(delivery_id: int) -> None   likewise for gateway.tasks.deliver.
