"""Prepend a Received header (RFC 5321 section 4.4) naming Lockpost, so the
path of every message through the gateway can be traced."""

from email.utils import format_datetime

from django.conf import settings
from django.utils import timezone


def received_header(ctx):
    when = format_datetime(ctx.received_at or timezone.now())
    client = ctx.client_helo or "unknown"
    address = f" ([{ctx.client_address}])" if ctx.client_address else ""
    return (
        f"Received: from {client}{address}\r\n"
        f"\tby {settings.LOCKPOST_HOSTNAME} (Lockpost) with LMTP id {ctx.queue_id};\r\n"
        f"\t{when}\r\n"
    ).encode("ascii", "replace")


def add_trace_header(ctx):
    # On top of every output, above the bytes as received or as a handler
    # made them: nothing below it is re-serialised.
    ctx.prefix = received_header(ctx) + ctx.prefix
    ctx.note("trace", "added Received header")
