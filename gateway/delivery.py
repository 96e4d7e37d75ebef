"""Delivery: sends each Delivery row to the next hop over SMTP, retries
temporary failures with backoff, bounces permanent ones with a DSN."""

# CONTRACT (to be implemented):
# deliver(delivery_id: int) -> None
#   Claims the delivery with a lease; sends its content to LOCKPOST_NEXT_HOP
#   (or writes .eml files into LOCKPOST_OUTBOX_DIR when unset) for its
#   pending recipients; records each recipient's reply; 4xx/connection
#   errors -> deferred with exponential backoff until LOCKPOST_MAX_QUEUE_AGE,
#   then bounce; 5xx -> bounced recipients get a DSN (gateway.dsn) queued
#   through gateway.spool.store with a null sender; never a DSN to a null
#   sender. Updates the Message's state from its recipients' states.
