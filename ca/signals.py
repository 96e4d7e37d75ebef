"""What ca/ tells the rest of the project, without importing it."""

from django.dispatch import Signal

# Sent when our CA has issued an S/MIME certificate with a key made here:
# kwargs certificate (ca.models.Certificate), issued_by (a user or None).
# A receiver returns a line for the admin (e.g. "pickup offered by SMS").
certificate_issued = Signal()
