"""Mail written in the portal by an external recipient: a reply from a PDF's
Reply link, or a reply or new message from the secure inbox.

It always goes to one address the caller has checked (the original sender),
never to an address typed in a form: the portal is no open relay. The
message is built as proper MIME and stored in the spool with the envelope
author -> that sender, so it runs the pipeline like any mail."""

import email.policy
import mimetypes
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from gateway import spool
from gateway.models import MailUser
from portal.models import SentReply


class TooManyReplies(Exception):
    """The author sent as many messages as the rate allows for now."""


def one_line(text, limit=900):
    # No header injection: a subject is one line.
    return " ".join(str(text or "").split())[:limit]


def build(author, to, subject, text, attachments=(), in_reply_to="", references=""):
    """The message as bytes (CRLF). `attachments` are (name, bytes) pairs."""
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = author
    message["To"] = to
    message["Subject"] = one_line(subject)
    message["Date"] = format_datetime(timezone.now())
    message["Message-ID"] = make_msgid(domain=settings.LOCKPOST_HOSTNAME)
    if in_reply_to:
        message["In-Reply-To"] = one_line(in_reply_to)
        message["References"] = one_line(f"{references} {in_reply_to}", 4000)
    message.set_content(text or "")
    for name, data in attachments:
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        maintype, _, subtype = kind.partition("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=one_line(name, 200))
    return message.as_bytes()


def rate_limited(author, now=None):
    """Whether `author` has used up LOCKPOST_REPLY_RATE messages in the last hour."""
    since = (now or timezone.now()) - timedelta(hours=1)
    return SentReply.objects.filter(author=author.lower(), at__gte=since).count() >= settings.LOCKPOST_REPLY_RATE


@transaction.atomic
def send(author, to, data, *, via, in_reply_to_queue_id="", limit=None):
    """Store the message in the spool (envelope author -> to) and record it.
    Raises TooManyReplies when the author's rate, or `limit` replies to
    this message, is used up; checked under a lock on the author's row, so
    two tabs sending at once cannot both slip through."""
    author = author.lower()
    spool.remember_users([author])
    MailUser.objects.select_for_update().get(email=author)
    if rate_limited(author):
        raise TooManyReplies("rate")
    if limit is not None:
        used = SentReply.objects.filter(author=author, via=via, in_reply_to_queue_id=in_reply_to_queue_id).count()
        if used >= limit:
            raise TooManyReplies("limit")
    message = spool.store(author, [to], data, client_address="portal")
    SentReply.objects.create(
        author=author, to=to, via=via, in_reply_to_queue_id=in_reply_to_queue_id, queue_id=message.queue_id
    )
    return message
