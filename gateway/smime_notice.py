"""The notice a sender gets, when they asked for it, saying how each
recipient's copy of their message was protected. Queued through the spool
like any message."""

from gateway import spool


def notice_text(subject, queue_id, entries):
    lines = [f"Your message {subject!r} (queue id {queue_id}) was sent protected:", ""]
    lines += [f"  {recipient}: {how}" for recipient, how in entries]
    return "\n".join(lines) + "\n"


def notify_sender(ctx, entries):
    """entries: [(recipient, how)]. Returns the notice's queue id."""
    subject = str(ctx.headers.get("Subject", "") or "")
    notice = spool.store_notice(
        ctx.mail_from, f"Sent encrypted: {subject}", notice_text(subject, ctx.queue_id, entries)
    )
    return notice.queue_id
