"""Classify each recipient: incoming (from outside to us), outgoing (from us
to outside) or internal (from us to us), by the domains marked internal."""

from gateway.policy.store import is_internal_address


def classify_recipients(ctx):
    sender_internal = bool(ctx.mail_from) and is_internal_address(ctx.mail_from)
    for rcpt in ctx.recipients:
        rcpt_internal = is_internal_address(rcpt.address)
        if sender_internal:
            rcpt.direction = "internal" if rcpt_internal else "outgoing"
        else:
            rcpt.direction = "incoming"
    counts = {}
    for rcpt in ctx.recipients:
        counts[rcpt.direction] = counts.get(rcpt.direction, 0) + 1
    summary = ", ".join(f"{n} {d}" for d, n in sorted(counts.items()))
    ctx.note("classify", f"sender {'internal' if sender_internal else 'external'}; recipients: {summary}")
