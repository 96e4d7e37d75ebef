"""Walking a message: chosen headers, bodies and every attachment, with
transfer encodings (base64, quoted-printable) and charsets undone by the
email package. Attached messages are walked the same way."""

import email
import email.policy

from dlp.extract.files import extract_file
from dlp.extract.limits import Unreadable


def parse(data):
    return email.message_from_bytes(data, policy=email.policy.default)


def _header_values(msg, name):
    try:
        return [str(v) for v in msg.get_all(name, [])]
    except Exception:  # malformed headers: fall back to the raw text
        return [v for k, v in msg.raw_items() if k.lower() == name.lower()]


def walk_message(ctx, msg, prefix, depth):
    ctx.budget.check_depth(depth)
    for name in ctx.headers:
        label = "subject" if name.lower() == "subject" else f"header {name}"
        for value in _header_values(msg, name):
            ctx.add(prefix + label, value)
    _walk_part(ctx, msg, prefix, depth, 0)


def _walk_part(ctx, part, prefix, depth, nesting):
    ctx.budget.count_file()
    ctx.budget.check_time()
    content_type = part.get_content_type()
    if part.is_multipart():
        if nesting > ctx.budget.limits.max_multipart_nesting:
            raise Unreadable(f"multipart nested more than {ctx.budget.limits.max_multipart_nesting} levels")
        subparts = part.get_payload()
        if content_type.startswith("message/"):
            for sub in subparts:
                where = f"{prefix}{content_type}"
                ctx.guard(where, walk_message, ctx, sub, f"{where} > ", depth + 1)
        else:
            for sub in subparts:
                ctx.guard(f"{prefix}{content_type}", _walk_part, ctx, sub, prefix, depth, nesting + 1)
        return
    try:
        filename = part.get_filename() or ""
    except Exception:
        filename = ""
    attachment = bool(filename) or part.get_content_disposition() == "attachment"
    if not attachment and content_type in ("text/plain", "text/html"):
        location = f"{prefix}body {content_type}"
    else:
        location = f"{prefix}attachment {filename or 'unnamed ' + content_type}"
    ctx.guard(location, _leaf, ctx, part, filename, location, depth, content_type)


def _leaf(ctx, part, filename, location, depth, content_type):
    payload = part.get_payload(decode=True) or b""
    ctx.budget.reserve(len(payload))
    extract_file(ctx, filename, payload, location, depth, content_type, part.get_content_charset())
