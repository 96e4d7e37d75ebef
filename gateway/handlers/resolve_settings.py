"""Resolve each recipient's effective settings. Outgoing mail follows the
sender's settings; incoming and internal mail the recipient's."""

from gateway.policy.cache import epoch_for
from gateway.policy.store import effective_settings


def resolve_settings(ctx):
    epoch = epoch_for(ctx)  # one policy for the whole message, asked for once
    for rcpt in ctx.recipients:
        owner = ctx.mail_from if rcpt.direction == "outgoing" and ctx.mail_from else rcpt.address
        rcpt.settings = effective_settings(owner, epoch)
        # The recipient's own levels too, read once here: for an outgoing
        # copy they have their say (see policy.resolver.recipient_wins).
        rcpt.own_settings = rcpt.settings if owner == rcpt.address else effective_settings(rcpt.address, epoch)
    ctx.note("settings", f"resolved settings for {len(ctx.recipients)} recipient(s)")
