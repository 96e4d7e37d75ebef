"""Classify each recipient: incoming (from outside to us), outgoing (from us
to outside) or internal (from us to us), by the domains marked internal."""

from gateway.policy.cache import epoch_for
from gateway.policy.store import is_internal_address


def classify_recipients(ctx):
    epoch = epoch_for(ctx)  # read once here, used by the handlers after it too
    sender_internal = bool(ctx.mail_from) and is_internal_address(ctx.mail_from, epoch)
    for rcpt in ctx.recipients:
        rcpt_internal = is_internal_address(rcpt.address, epoch)
        if sender_internal:
            rcpt.direction = "internal" if rcpt_internal else "outgoing"
        else:
            rcpt.direction = "incoming"
    counts = {}
    for rcpt in ctx.recipients:
        counts[rcpt.direction] = counts.get(rcpt.direction, 0) + 1
    summary = ", ".join(f"{n} {d}" for d, n in sorted(counts.items()))
    ctx.note("classify", f"sender {'internal' if sender_internal else 'external'}; recipients: {summary}")
