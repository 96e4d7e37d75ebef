"""DLP notifications: to the sender and to the DLP managers of the sender's
domain, naming the rules hit with masked evidence and, for held mail, a link
to its page in the portal. The caller passes `queue` (the gateway's
spool.store_notice: the system pipeline, delivered as written, never scanned
as a user's mail); they go with a null envelope sender, so they never bounce."""

from django.conf import settings
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string

from dlp.models import Notice

LANGUAGES = ("en", "nl", "de")


def portal_link(quarantined_id):
    return f"{settings.LOCKPOST_PORTAL_URL.rstrip('/')}/quarantine/{quarantined_id}/"


def render(language, audience, **context):
    """(subject, text) from dlp/notice_<language>.txt: its first line is the subject."""
    language = language if language in LANGUAGES else "en"
    text = render_to_string(f"dlp/notice_{language}.txt", {"audience": audience, **context})
    subject, _, body = text.lstrip().partition("\n")
    return subject.strip(), body.lstrip("\n")


def notify(message, action, verdict, *, queue, managers, language="en", recipients=(), quarantined=None, reason=""):
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
                queued.append(queue(message.mail_from, subject, text, envelope_sender=""))
            if managers:
                subject, text = render(language, "manager", **context)
                queued.append(queue(managers, subject, text, envelope_sender=""))
            notice.queue_ids = [m.queue_id for m in queued]
            notice.save(update_fields=["queue_ids"])
    except IntegrityError:
        return []  # notified before
    return [m.queue_id for m in queued]
