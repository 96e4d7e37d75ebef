"""Live pages (Channels). Open inbox and quarantine pages keep a websocket
(portal.consumers.LiveConsumer); when a new inbox message is stored or a
quarantined message is held, released or deleted, its group is told
"changed", and the page fetches its list again through the ordinary view.
Nothing but that word crosses the socket, so the socket needs no rules of
its own about who may see what.

Groups: "inbox.<MailUser id>" for one recipient's inbox; "quarantine" for
every internal user with a quarantine page open. Across processes (the
gateway's worker stores, the web server pushes) this needs the Redis
channel layer; the in-memory one reaches pages of the same process only."""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from dlp.models import QuarantinedMessage
from portal.models import InboxMessage

log = logging.getLogger(__name__)
QUARANTINE = "quarantine"


def inbox_group(mail_user_id):
    return f"inbox.{mail_user_id}"


def push(group, kind):
    """Tell a group's pages that their list changed. Never raises: a page
    that misses it shows the change at its next load."""
    try:
        layer = get_channel_layer()
        if layer is not None:
            async_to_sync(layer.group_send)(group, {"type": "changed", "kind": kind})
    except Exception:
        log.warning("live update for %s not sent", group, exc_info=True)


def push_after_commit(group, kind):
    # After the commit, so the page that fetches its list sees the change.
    transaction.on_commit(lambda: push(group, kind), robust=True)


@receiver(post_save, sender=InboxMessage, dispatch_uid="portal.live.inbox")
def _inbox_saved(sender, instance, created, **kwargs):
    if created:
        push_after_commit(inbox_group(instance.recipient_id), "inbox")


@receiver(post_save, sender=QuarantinedMessage, dispatch_uid="portal.live.quarantine")
def _quarantine_saved(sender, instance, **kwargs):
    push_after_commit(QUARANTINE, "quarantine")
