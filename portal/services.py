"""The secure inbox: messages kept in the portal for external recipients
instead of being mailed (setting secure_delivery = portal).

The gateway calls `keep` from its pipeline (gateway.handlers.portal_inbox)
and mails the recipient the `notification` instead of the message. The
portal's pages and API read, reply, revoke and purge through the rest.
The message is sealed at rest (ca.sealing, purpose "portal-inbox")."""

import email.policy
import logging
import re
from base64 import b64encode
from dataclasses import dataclass, field
from datetime import timedelta
from email.parser import BytesParser
from email.utils import format_datetime, make_msgid

from django.conf import settings
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext

from ca.sealing import seal, unseal
from gateway import spool
from gateway.models import MailUser
from gateway.pdfmail.sanitize import sanitize_html
from portal import compose, mail
from portal.models import InboxMessage

log = logging.getLogger(__name__)
PURPOSE = "portal-inbox"


# --- storing (the gateway's side) -------------------------------------------


def keep(queue_id, sender, recipient, raw, *, retention_days, read_receipt=False):
    """Store the message for `recipient`, sealed; once per message and
    recipient (a pipeline run again finds the first copy). Returns (item, created)."""
    user, _ = MailUser.objects.get_or_create(email=recipient.lower())
    found = InboxMessage.objects.filter(queue_id=queue_id, recipient=user).first()
    if found is not None:
        return found, False
    headers = BytesParser(policy=email.policy.default).parsebytes(spool.header_block(raw), headersonly=True)
    try:
        with transaction.atomic():
            item = InboxMessage.objects.create(
                recipient=user,
                queue_id=queue_id,
                sender=sender.lower(),
                subject=spool.subject_of(raw),
                message_id=compose.one_line(headers.get("Message-ID", ""), 998),
                sealed=seal(bytes(raw), settings.LOCKPOST_MASTER_KEY, PURPOSE),
                size=len(raw),
                expires_at=timezone.now() + timedelta(days=max(int(retention_days), 1)),
                read_receipt=bool(read_receipt),
            )
    except IntegrityError:  # stored meanwhile by another run
        return InboxMessage.objects.get(queue_id=queue_id, recipient=user), False
    return item, True


def link(item):
    return mail.portal_url(reverse("portal:inbox-message", args=[item.pk]))


def notification(item, language="en"):
    """The mail the recipient gets instead of the message: who wrote, the
    subject, and the link. Bytes, CRLF."""
    from email.message import EmailMessage

    with translation.override(language):
        text = render_to_string("portal/mail/inbox_notice.txt", {"item": item, "link": link(item)})
        subject = gettext("Secure message from %(sender)s") % {"sender": item.sender}
    notice = EmailMessage(policy=email.policy.SMTP)
    notice["From"] = f"Lockpost <{settings.LOCKPOST_POSTMASTER}>"
    notice["To"] = item.recipient.email
    notice["Subject"] = subject
    notice["Date"] = format_datetime(timezone.now())
    notice["Message-ID"] = make_msgid(domain=settings.LOCKPOST_HOSTNAME)
    notice["Auto-Submitted"] = "auto-generated"
    notice.set_content(text)
    return notice.as_bytes()


# --- reading (the portal's side) --------------------------------------------


def inbox_of(user):
    """The messages a portal user may read: their own, neither revoked nor expired."""
    email_address = (user.email or user.username or "").lower()
    return InboxMessage.objects.filter(
        recipient__email=email_address, revoked_at=None, expires_at__gt=timezone.now()
    ).select_related("recipient")


def senders_of(user):
    """Who the user may write to: those who sent them secure mail."""
    return sorted(set(inbox_of(user).values_list("sender", flat=True)))


@dataclass
class Attachment:
    index: int
    name: str
    content_type: str
    size: int


@dataclass
class Opened:
    headers: dict
    text: str = ""
    html: str = ""  # sanitised
    attachments: list = field(default_factory=list)


def raw_of(item):
    return unseal(item.sealed, settings.LOCKPOST_MASTER_KEY, PURPOSE)


def _parse(item):
    return BytesParser(policy=email.policy.default).parsebytes(raw_of(item))


def _attachment_parts(message):
    """The parts shown as attachments, in order: anything with a file name
    or marked attachment that is not the body."""
    parts = []
    for part in message.walk():
        if part.is_multipart():
            continue
        disposition = part.get_content_disposition()
        if disposition == "attachment" or (part.get_filename() and disposition != "inline"):
            parts.append(part)
    return parts


def _payload(part):
    try:
        content = part.get_content()
    except Exception:  # a damaged part: its raw bytes
        content = part.get_payload(decode=True) or b""
    return content.encode("utf-8") if isinstance(content, str) else bytes(content)


def _inline_images(message):
    """Content-ID -> data: URI of embedded images, so cid: links show in the
    frame without loading anything."""
    found = {}
    for part in message.walk():
        cid = str(part.get("Content-ID", "") or "").strip().strip("<>")
        if cid and part.get_content_maintype() == "image":
            data = b64encode(_payload(part)).decode()
            found[cid] = f"data:{part.get_content_type()};base64,{data}"
    return found


def open_message(item):
    message = _parse(item)
    opened = Opened(
        headers={name: str(message.get(name, "") or "") for name in ("From", "To", "Cc", "Subject", "Date")}
    )
    body = message.get_body(("html", "plain"))
    if body is not None and body.get_content_type() == "text/html":
        html = sanitize_html(body.get_content())
        images = _inline_images(message)
        opened.html = re.sub(
            r"""(src=["'])cid:([^"']+)""", lambda m: m.group(1) + images.get(m.group(2), "about:blank"), html
        )
        plain = message.get_body(("plain",))
        opened.text = plain.get_content() if plain is not None else ""
    elif body is not None:
        opened.text = body.get_content()
    for index, part in enumerate(_attachment_parts(message)):
        opened.attachments.append(
            Attachment(
                index, part.get_filename() or f"attachment-{index + 1}", part.get_content_type(), len(_payload(part))
            )
        )
    return opened


def attachment(item, index):
    """(file name, bytes) of the index-th attachment; IndexError when there is none."""
    if index < 0:
        raise IndexError(index)
    part = _attachment_parts(_parse(item))[index]
    return part.get_filename() or f"attachment-{index + 1}", _payload(part)


def mark_read(item, reader):
    """The first reading: remember it, and tell the sender when asked."""
    updated = InboxMessage.objects.filter(pk=item.pk, read_at=None).update(read_at=timezone.now())
    if not updated:
        return
    item.refresh_from_db(fields=["read_at"])
    if item.read_receipt:
        with translation.override(mail.language_of(item.sender)):
            subject = gettext("Read: %(subject)s") % {"subject": item.subject}
            text = render_to_string("portal/mail/read_receipt.txt", {"item": item, "reader": reader})
        spool.store_notice(item.sender, subject, text, envelope_sender="")
        log.info("read receipt for inbox message %s queued for %s", item.pk, item.sender)


# --- writing back -----------------------------------------------------------


def reply(user, item, text, attachments=()):
    """A reply to an inbox message, to its sender only. Raises compose.TooManyReplies."""
    author = (user.email or user.username).lower()
    subject = item.subject if item.subject.lower().startswith("re:") else f"Re: {item.subject}".strip()
    data = compose.build(author, item.sender, subject, text, attachments, in_reply_to=item.message_id)
    return compose.send(author, item.sender, data, via="inbox", in_reply_to_queue_id=item.queue_id)


def write(user, to, subject, text, attachments=()):
    """A new message to someone who sent the user secure mail; anyone else
    is refused (ValueError): the portal is no open relay."""
    if to.lower() not in senders_of(user):
        raise ValueError("the portal only writes to those who wrote to you")
    author = (user.email or user.username).lower()
    data = compose.build(author, to.lower(), subject, text, attachments)
    return compose.send(author, to.lower(), data, via="inbox")


# --- revoking and expiry ----------------------------------------------------


def may_revoke(user, item):
    """Admins, or the internal user who sent it."""
    if not (user and user.is_authenticated and user.is_active):
        return False
    if user.is_staff:
        return True
    from portal.auth import is_external

    return not is_external(user) and (user.email or "").lower() == item.sender


def revoke(item, by):
    """The recipient can no longer read it; the sealed copy is dropped at once."""
    InboxMessage.objects.filter(pk=item.pk, revoked_at=None).update(
        revoked_at=timezone.now(), revoked_by=by[:320], sealed=b""
    )
    log.info("inbox message %s revoked by %s", item.pk, by)


def purge(now=None):
    """Delete expired messages (revoked ones lost their body already). Returns how many."""
    now = now or timezone.now()
    done, _ = InboxMessage.objects.filter(expires_at__lte=now).delete()
    if done:
        log.info("secure inbox: %d expired message(s) deleted", done)
    return done
