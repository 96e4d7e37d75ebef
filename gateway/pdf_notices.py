"""Mail from the postmaster to the sender of a PDF message: the passwords
(when the sender passes them on), or why a recipient's password could not
be delivered. Queued through the spool like any message, so it is stored,
traced and delivered the same way."""

from django.template.loader import render_to_string

from gateway import spool


def notify_passwords(ctx, subject, entries):
    """entries: [(recipient, password)]. The one place a password is written:
    in mail to the sender. Returns the notice's queue id."""
    text = render_to_string(
        "gateway/notices/pdf_passwords.txt",
        {
            "subject": subject,
            "queue_id": ctx.queue_id,
            "entries": [{"recipient": r, "password": p} for r, p in entries],
        },
    )
    return _queue(ctx, f"Passwords for your encrypted message: {subject}", text)


def notify_undeliverable(ctx, subject, recipient, reason):
    """Tell the sender the message is held because a password could not be
    delivered. Never carries the password."""
    text = render_to_string(
        "gateway/notices/pdf_undeliverable.txt",
        {"subject": subject, "queue_id": ctx.queue_id, "recipient": recipient, "reason": reason},
    )
    return _queue(ctx, f"Not sent: {subject}", text)


def _queue(ctx, subject, text):
    return spool.store_notice(ctx.mail_from, subject, text).queue_id
