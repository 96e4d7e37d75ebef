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
    header = received_header(ctx)
    # Prepended to the bytes as received: nothing below it is re-serialised.
    ctx.raw = header + ctx.raw
    for group in ctx.groups:
        if group.content is not None:
            group.content = header + group.content
    ctx.note("trace", "added Received header")
