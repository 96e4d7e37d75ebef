"""Resolve each recipient's effective settings. Outgoing mail follows the
sender's settings; incoming and internal mail the recipient's."""

from gateway.policy.store import effective_settings


def resolve_settings(ctx):
    for rcpt in ctx.recipients:
        owner = ctx.mail_from if rcpt.direction == "outgoing" and ctx.mail_from else rcpt.address
        rcpt.settings = effective_settings(owner)
    ctx.note("settings", f"resolved settings for {len(ctx.recipients)} recipient(s)")
