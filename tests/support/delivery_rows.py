"""Spool rows as the worker leaves them for delivery: a Message with its raw
bytes, one Delivery, and its pending Recipients. For delivery tests, which
should not depend on the LMTP listener or the pipeline."""

from django.utils import timezone

from gateway.models import Delivery, Message, RawMessage, Recipient

MESSAGE = (
    b"From: Alice <alice@example.org>\r\n"
    b"To: Bob <bob@example.net>, Carol <carol@example.net>\r\n"
    b"Subject: Quarterly figures\r\n"
    b"Message-ID: <figures-1@example.org>\r\n"
    b"\r\n"
    b"Hello Bob and Carol,\r\n"
    b".a line that starts with a dot\r\n"
    b"\r\n"
    b"Alice\r\n"
)


def make_delivery(recipients, *, mail_from="alice@example.org", content=MESSAGE, received_at=None, group_key="plain"):
    """Returns the Delivery; its recipients are pending, in the given order."""
    message = Message.objects.create(
        mail_from=mail_from,
        received_at=received_at or timezone.now(),
        size=len(content),
        sha256=RawMessage.digest(content),
        state=Message.State.DELIVERING,
    )
    RawMessage.objects.create(message=message, data=content)
    delivery = Delivery.objects.create(message=message, group_key=group_key, mail_from=mail_from, content=content)
    for position, address in enumerate(recipients):
        Recipient.objects.create(message=message, address=address, position=position, delivery=delivery)
    return delivery


def reload(delivery):
    """The delivery, its message and its recipients fresh from the database."""
    delivery = Delivery.objects.select_related("message").get(pk=delivery.pk)
    return delivery, delivery.message, list(delivery.message.recipients.order_by("position"))


def make_due(delivery):
    """Lets the retry time pass."""
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
