"""Walk the raw MIME tree by its boundaries, in the same order as the parsed
tree, and find bodies in the original bytes.

Two uses. The email package re-serialises an embedded message when asked for
its bytes, and no policy round-trips exactly; an attached .eml must be the
message the sender attached, so raw_message_bodies slices it out. And the
email package keeps every body as text; for a large base64 attachment that
is tens of MB held while parsing, so large_base64_leaves finds those bodies
for parse.py to leave out of the parse and decode straight from the bytes.

Parts are (start, end) offsets into the one raw bytes object: slicing each
level would copy a large message once per nesting level."""

import base64
import binascii
import quopri
import re
from collections.abc import Callable
from email.message import Message
from email.parser import BytesHeaderParser

_HEADER_END = re.compile(rb"\r?\n\r?\n")

# Called for every part, before its children: (headers, body start, body end, is the top level).
Visitor = Callable[[Message, int, int, bool], None]


def raw_message_bodies(raw: bytes) -> list[bytes]:
    """Bodies of the message/rfc822 parts of raw, outermost first in document
    order, not descending into them (the parsed tree does the same)."""
    found: list[bytes] = []

    def visit(headers: Message, start: int, end: int, top: bool) -> None:
        if headers.get_content_type() == "message/rfc822" and not top:
            found.append(_decode(raw[start:end], headers.get("Content-Transfer-Encoding", "")))

    _walk(raw, 0, len(raw), visit, top=True)
    return found


def large_base64_leaves(raw: bytes, min_size: int) -> list[tuple[int, int]]:
    """Spans of base64 bodies of at least min_size bytes, of leaf parts that
    are neither text nor messages, in document order. A span holds no "-"
    (not in the base64 alphabet), so no boundary line can hide in it."""
    found: list[tuple[int, int]] = []

    def visit(headers: Message, start: int, end: int, top: bool) -> None:
        if (
            end - start >= min_size
            and headers.get_content_maintype() not in ("text", "multipart", "message")
            and str(headers.get("Content-Transfer-Encoding", "")).strip().lower() == "base64"
            and raw.find(b"-", start, end) == -1
        ):
            found.append((start, end))

    _walk(raw, 0, len(raw), visit, top=True)
    return found


def _walk(raw: bytes, start: int, end: int, visit: Visitor, top: bool = False) -> None:
    if raw.startswith(b"\r\n", start, end):  # a part with no headers at all
        head_end, body = start, start + 2
    elif raw.startswith(b"\n", start, end):
        head_end, body = start, start + 1
    elif match := _HEADER_END.search(raw, start, end):
        head_end, body = match.start(), match.end()
    else:
        head_end, body = end, end
    headers = BytesHeaderParser().parsebytes(raw[start:head_end] + b"\r\n\r\n")
    visit(headers, body, end, top)
    if headers.get_content_type() == "message/rfc822" and not top:
        return
    boundary = headers.get_boundary() if headers.get_content_maintype() == "multipart" else None
    if not boundary:
        return
    for part_start, part_end in _split_multipart(raw, body, end, boundary.encode("latin-1", "replace")):
        _walk(raw, part_start, part_end, visit)


def _split_multipart(raw: bytes, begin: int, end: int, boundary: bytes) -> list[tuple[int, int]]:
    # A delimiter is "--" boundary at a line start; the line break before it
    # belongs to the delimiter, not to the part (RFC 2046 5.1.1). Plain
    # find() rather than a regex: this runs over multi-megabyte bodies.
    marker = b"--" + boundary
    parts, start, pos = [], None, begin
    while (pos := raw.find(marker, pos, end)) != -1:
        at_line_start = pos == begin or raw[pos - 1] == 0x0A
        after = pos + len(marker)
        if not at_line_start:
            pos = after
            continue
        closing = raw.startswith(b"--", after, end)
        eol = raw.find(b"\n", after, end)
        rest = raw[after + (2 if closing else 0) : eol if eol != -1 else end]
        if rest.strip(b" \t\r"):  # "--boundary-more": a longer boundary, not ours
            pos = after
            continue
        if start is not None:
            cut = pos - 1 if pos > begin else begin  # drop the LF before the delimiter
            if cut > begin and raw[cut - 1] == 0x0D:
                cut -= 1
            parts.append((start, max(cut, start)))
        if closing:
            return parts
        start = eol + 1 if eol != -1 else end
        pos = start
    if start is not None:  # no close delimiter: take what there is
        parts.append((start, end))
    return parts


def _decode(body: bytes, cte: str) -> bytes:
    cte = cte.strip().lower()
    try:
        if cte == "base64":
            return base64.b64decode(body)
        if cte == "quoted-printable":
            return quopri.decodestring(body)
    except (binascii.Error, ValueError):
        pass
    return body
