"""A quarantined message's original bytes as a download, for the admin, the
API and the portal alike. Who may have it is the caller's check."""

from django.http import Http404, HttpResponse

from dlp import services
from gateway.models import RawMessage


def original_response(quarantined, user):
    """The message as received, as an .eml attachment (recorded as downloaded)."""
    try:
        data = services.download(quarantined, services.who(user))
    except RawMessage.DoesNotExist:
        raise Http404("The message was deleted.") from None
    response = HttpResponse(data, content_type="message/rfc822")
    response["Content-Disposition"] = f'attachment; filename="{quarantined.message.queue_id}.eml"'
    response["Cache-Control"] = "no-store"  # what DLP held back stays out of caches
    return response
