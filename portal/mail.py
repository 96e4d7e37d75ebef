"""Mail from the postmaster to one address (invitations, pickup links),
queued through the spool like any message, in the recipient's language."""

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation

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
    return spool.store_notice(to, subject, text)
