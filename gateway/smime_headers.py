"""Header fields around S/MIME, as pure functions over message bytes: the
encryption triggers, the X-Lockpost-Info-* verdict headers, and RFC 9788
header protection. Only the header block is touched; the body (and anything
signed in it) stays byte for byte as it was."""

import email.policy
import functools
import re
from email.headerregistry import UnstructuredHeader

INFO_PREFIX = b"x-lockpost-info-"
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_BLANKS = re.compile(r"\s{2,}")
# RFC 9788 hcp_baseline: what an encrypted message shows outside.
OBSCURED_SUBJECT = "[...]"
PROTECTED = (b"from", b"to", b"cc", b"subject", b"date", b"message-id", b"reply-to", b"followup-to")


def split(raw):
    """(header block with its last line break, the rest from the blank line on)."""
    if raw.startswith((b"\r\n", b"\n")):
        return b"", raw
    m = _BLANK_LINE.search(raw)
    if m is None:
        return raw, b""
    cut = m.start() + (2 if raw[m.start() : m.start() + 2] == b"\r\n" else 1)
    return raw[:cut], raw[cut:]


def fields(head):
    """Each field with its folded continuation lines, exactly as received."""
    out = []
    for line in head.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t") and out:
            out[-1] += line
        else:
            out.append(line)
    return out


def name_of(field_bytes):
    return field_bytes.split(b":", 1)[0].strip().lower()


def remove_fields(raw, keep):
    """The message without the header fields for which keep(lower-case name, field) is false."""
    head, rest = split(raw)
    kept = [f for f in fields(head) if keep(name_of(f), f)]
    if len(kept) == len(fields(head)):
        return raw
    return b"".join(kept) + rest


def without_info_headers(raw):
    """Strip every X-Lockpost-Info-* field: only the gateway may write them."""
    return remove_fields(raw, lambda name, _f: not name.startswith(INFO_PREFIX))


def field_bytes(name, value):
    """One header field, RFC 2047-encoded where needed, folded, CRLF-ended."""
    value = _one_line(value)
    if value and _plain_unstructured(name, value):
        # What the email package would write for it, at a twentieth of the
        # cost (30 µs a field; the info headers are six a message).
        return f"{name}: {value}\r\n".encode("ascii")
    header = email.policy.SMTP.header_factory(name, value)
    return header.fold(policy=email.policy.SMTP).encode("ascii")


def _plain_unstructured(name, value):
    """A field the email package writes as it is: free text (not an address,
    a date or parameters), printable ASCII, nothing that reads as an
    encoded word, short enough to need no folding."""
    return (
        len(name) + 2 + len(value) <= email.policy.SMTP.max_line_length
        and value.isascii()
        and value.isprintable()
        and "=?" not in value
        and _unstructured(name)
    )


@functools.cache
def _unstructured(name):
    return issubclass(email.policy.SMTP.header_factory[name], UnstructuredHeader)


def prepend_fields(raw, pairs):
    return b"".join(field_bytes(n, v) for n, v in pairs) + raw


def _one_line(text):
    return " ".join(str(text).split())


# --- triggers -------------------------------------------------------------


def subject_without_trigger(subject, trigger):
    """The subject with the trigger text taken out (any case), or None when it is not there."""
    if not trigger or not subject:
        return None
    at = subject.lower().find(trigger.lower())
    if at < 0:
        return None
    return _BLANKS.sub(" ", subject[:at] + " " + subject[at + len(trigger) :]).strip()


def parse_header_trigger(trigger):
    """ "Name: value" -> (lower-case name bytes, value), or None."""
    name, colon, value = (trigger or "").partition(":")
    if not colon or not name.strip() or not value.strip():
        return None
    return name.strip().lower().encode("ascii", "replace"), value.strip()


def has_header_trigger(headers, trigger):
    parsed = parse_header_trigger(trigger)
    if parsed is None:
        return False
    name, value = parsed
    return any(str(v).strip().lower() == value.lower() for v in headers.get_all(name.decode(), []))


def without_field(raw, name):
    return remove_fields(raw, lambda n, _f: n != name)


def with_subject(raw, subject):
    """The message with its Subject field replaced (header block only)."""
    head, rest = split(raw)
    kept = [f for f in fields(head) if name_of(f) != b"subject"]
    return b"".join(kept) + field_bytes("Subject", subject) + rest


# --- RFC 9788 header protection -------------------------------------------


def protect(outer, entity, *, encrypted):
    """(outer header fields, entity) -> the same with the entity carrying the
    protected header fields and hp="cipher" or hp="clear" on its Content-Type
    (RFC 9788 section 2). For encryption the outer Subject becomes "[...]" and
    the entity records the outer values in HP-Outer fields (section 2.2.1)."""
    outer_fields = fields(outer)
    protected = [f for f in outer_fields if name_of(f) in PROTECTED]
    entity_head, entity_rest = split(entity)
    content = [_with_hp(f, "cipher" if encrypted else "clear") if name_of(f) == b"content-type" else f
               for f in fields(entity_head)]  # fmt: skip
    new_outer = outer_fields
    hp_outer = []
    if encrypted:
        new_outer = [f for f in outer_fields if name_of(f) != b"subject"]
        if any(name_of(f) == b"subject" for f in outer_fields):
            new_outer.append(field_bytes("Subject", OBSCURED_SUBJECT))
        hp_outer = [field_bytes("HP-Outer", _unfold(f)) for f in new_outer if name_of(f) in PROTECTED]
    return b"".join(new_outer), b"".join(protected + hp_outer + content) + entity_rest


def _with_hp(content_type_field, value):
    body = content_type_field.rstrip(b"\r\n")
    body = re.sub(rb';\s*hp="?[a-z]*"?', b"", body, flags=re.I)
    return body + f'; hp="{value}"'.encode() + b"\r\n"


def _unfold(f):
    return re.sub(rb"\r?\n[ \t]", b" ", f.rstrip(b"\r\n")).decode("ascii", "replace")
