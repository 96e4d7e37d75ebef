"""The page behind a PDF's Reply button: /reply/<token>/ at the site root.

The token (gateway.reply_links) is signed and expires; it names the message
(queue id), its sender and the recipient. The recipient may send at most
the sender's pdf_reply_limit replies through it, within their hourly rate
(LOCKPOST_REPLY_RATE); the reply goes to the original sender only."""

import email.parser
import email.policy
import logging

from django.core import signing
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from gateway.models import Message
from gateway.policy.store import effective_settings
from gateway.reply_links import read_reply_token
from gateway.spool_raw import load_raw
from portal import compose
from portal.forms import ReplyForm
from portal.models import SentReply

log = logging.getLogger(__name__)


def answered(token):
    """(payload, Message) for a valid token, or (None, None): forged, changed,
    expired, or naming a message that is not (or no longer) as it says."""
    try:
        payload = read_reply_token(token)
    except (signing.BadSignature, KeyError, TypeError):
        return None, None
    message = Message.objects.filter(queue_id=payload["q"], mail_from__iexact=payload["s"]).first()
    if message is None or not message.recipients.filter(address__iexact=payload["r"]).exists():
        return None, None
    return payload, message


def original_headers(message):
    """Message-ID and References of the message answered ("" when its bytes are gone)."""
    try:
        raw = bytes(load_raw(message.pk))
    except Exception:
        return "", ""
    headers = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(raw)
    return str(headers.get("Message-ID", "") or ""), str(headers.get("References", "") or "")


def reply_subject(subject):
    return subject if subject.lower().startswith("re:") else f"Re: {subject}".strip()


@sensitive_variables("token")
def reply_page(request, token):
    payload, message = answered(token)
    if message is None:
        return render(request, "portal/link_invalid.html", status=404)
    author, sender = payload["r"].lower(), message.mail_from
    limit = int(effective_settings(sender)["pdf_reply_limit"].value)
    used = SentReply.objects.filter(author=author, via="pdf", in_reply_to_queue_id=message.queue_id).count()
    form = ReplyForm(request.POST or None, request.FILES or None)
    context = {"message": message, "author": author, "form": form, "left": max(limit - used, 0)}
    if used >= limit:
        return render(request, "portal/reply_used.html", context, status=410)
    if request.method == "POST" and form.is_valid():
        message_id, references = original_headers(message)
        data = compose.build(
            author, sender, reply_subject(message.subject), form.cleaned_data["text"], form.attachment_pairs(),
            in_reply_to=message_id, references=references,
        )  # fmt: skip
        try:
            sent = compose.send(author, sender, data, via="pdf", in_reply_to_queue_id=message.queue_id, limit=limit)
        except compose.TooManyReplies:
            form.add_error(None, _("You have sent too many messages. Please wait a while and try again."))
            return render(request, "portal/reply.html", context, status=429)
        log.info("reply %s from %s to %s via a PDF link (to %s)", sent.queue_id, author, sender, message.queue_id)
        return render(request, "portal/reply_sent.html", {"message": message, "sender": sender})
    return render(request, "portal/reply.html", context)
