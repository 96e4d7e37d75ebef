"""Handing out a message's raw bytes, for the admin and the API alike.
Raw bytes may hold what the gateway was asked to protect: reading them is a
permission of its own, not something every staff member gets."""

from django.http import Http404, HttpResponse

from gateway.models import RawMessage
from gateway.spool_raw import load_raw

RAW_MESSAGE_PERMISSION = "gateway.view_rawmessage"


def can_download_raw(user):
    return bool(user and user.is_active and user.is_staff and user.has_perm(RAW_MESSAGE_PERMISSION))


def raw_response(message):
    """The bytes as received, as an .eml attachment named after the queue id."""
    try:
        data = load_raw(message.pk)
    except RawMessage.DoesNotExist:
        raise Http404("The raw bytes of this message are gone.") from None
    response = HttpResponse(bytes(data), content_type="message/rfc822")
    response["Content-Disposition"] = f'attachment; filename="{message.queue_id}.eml"'
    return response
