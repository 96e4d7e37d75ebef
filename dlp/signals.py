"""What dlp/ tells the gateway, without importing it."""

from django.dispatch import Signal

# Sent after a quarantined message was released: kwargs message_id, by. The
# gateway requeues the message, which then goes on past DLP.
quarantine_released = Signal()
