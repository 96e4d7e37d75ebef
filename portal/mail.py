"""Mail from the postmaster to one address (invitations, pickup links),
queued through the spool like any message, in the recipient's language."""

import email.policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone, translation

from gateway import spool
from gateway.policy.store import effective_settings


def language_of(address):
    return effective_settings(address)["pdf_language"].value or "en"


def portal_url(path):
    return settings.LOCKPOST_PORTAL_URL.rstrip("/") + path


def queue(to, subject, template, context, language=None):
    """Render `template` (plain text) and store it in the spool; returns the Message."""
    with translation.override(language or language_of(to)):
        text = render_to_string(template, context)
        subject = str(subject)
    notice = EmailMessage(policy=email.policy.SMTP)
    notice["From"] = f"Lockpost <{settings.LOCKPOST_POSTMASTER}>"
    notice["To"] = to
    notice["Subject"] = subject
    notice["Date"] = format_datetime(timezone.now())
    notice["Message-ID"] = make_msgid(domain=settings.LOCKPOST_HOSTNAME)
    notice["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to this
    notice.set_content(text)
    return spool.store(settings.LOCKPOST_POSTMASTER, [to], notice.as_bytes())
