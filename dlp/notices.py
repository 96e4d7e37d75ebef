"""DLP notifications: to the sender and to the DLP managers of the sender's
domain, naming the rules hit with masked evidence and, for held mail, a link
to its page in the portal. Queued through the spool with a null envelope
sender (never bounced, never scanned as outgoing mail), so they travel the
pipeline like any message."""

import email.policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from django.conf import settings
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from dlp.models import Notice
from gateway import spool

LANGUAGES = ("en", "nl", "de")


def portal_link(quarantined_id):
    return f"{settings.LOCKPOST_PORTAL_URL.rstrip('/')}/quarantine/{quarantined_id}/"


def render(language, audience, **context):
    """(subject, text) from dlp/notice_<language>.txt: its first line is the subject."""
    language = language if language in LANGUAGES else "en"
    text = render_to_string(f"dlp/notice_{language}.txt", {"audience": audience, **context})
    subject, _, body = text.lstrip().partition("\n")
    return subject.strip(), body.lstrip("\n")


def build(to, subject, text):
    postmaster = settings.LOCKPOST_POSTMASTER
    notice = EmailMessage(policy=email.policy.SMTP)
    notice["From"] = f"Lockpost <{postmaster}>"
    notice["To"] = ", ".join(to)
    notice["Subject"] = subject
    notice["Date"] = format_datetime(timezone.now())
    notice["Message-ID"] = make_msgid(domain=settings.LOCKPOST_HOSTNAME)
    notice["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to this
    notice.set_content(text)
    return notice.as_bytes()


def notify(message, action, verdict, *, managers, language="en", recipients=(), quarantined=None, reason=""):
    """Queue the notices for this message's verdict, once per message (a
    message processed again after a crash finds its Notice row). Returns the
    queue ids queued now ([] when they were queued before)."""
    context = {
        "action": action,
        "subject": message.subject,
        "queue_id": message.queue_id,
        "sender": message.mail_from,
        "recipients": list(recipients),
        "hits": verdict.get("hits", []),
        "unscannable": verdict.get("unscannable", []),
        "link": portal_link(quarantined.pk) if quarantined is not None else "",
        "reason": reason,
    }
    queued = []
    try:
        with transaction.atomic():
            notice = Notice.objects.create(message=message, action=action)
            if message.mail_from:
                subject, text = render(language, "sender", **context)
                queued.append(spool.store("", [message.mail_from], build([message.mail_from], subject, text)))
            if managers:
                subject, text = render(language, "manager", **context)
                queued.append(spool.store("", managers, build(managers, subject, text)))
            notice.queue_ids = [m.queue_id for m in queued]
            notice.save(update_fields=["queue_ids"])
    except IntegrityError:
        return []  # notified before
    return [m.queue_id for m in queued]
