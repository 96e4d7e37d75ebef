"""The notice a sender gets, when they asked for it, saying how each
recipient's copy of their message was protected. Queued through the spool
like any message."""

import email.policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from django.conf import settings
from django.utils import timezone

from gateway import spool


def notice_text(subject, queue_id, entries):
    lines = [f"Your message {subject!r} (queue id {queue_id}) was sent protected:", ""]
    lines += [f"  {recipient}: {how}" for recipient, how in entries]
    return "\n".join(lines) + "\n"


def notify_sender(ctx, entries):
    """entries: [(recipient, how)]. Returns the notice's queue id."""
    subject = str(ctx.headers.get("Subject", "") or "")
    postmaster = settings.LOCKPOST_POSTMASTER
    notice = EmailMessage(policy=email.policy.SMTP)
    notice["From"] = f"Lockpost <{postmaster}>"
    notice["To"] = ctx.mail_from
    notice["Subject"] = f"Sent encrypted: {subject}"
    notice["Date"] = format_datetime(timezone.now())
    notice["Message-ID"] = make_msgid(domain=settings.LOCKPOST_HOSTNAME)
    notice["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to this
    notice.set_content(notice_text(subject, ctx.queue_id, entries))
    return spool.store(postmaster, [ctx.mail_from], notice.as_bytes()).queue_id
