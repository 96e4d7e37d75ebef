"""Find the exact bytes of embedded messages (message/rfc822 parts).

The email package re-serialises an embedded message when asked for its bytes,
and no policy round-trips exactly; an attached .eml must be the message the
sender attached. So this walks the raw MIME tree by its boundaries, in the same
order as the parsed tree, and slices the bodies out of the original bytes."""

import base64
import binascii
import quopri
import re
from email.parser import BytesHeaderParser

_HEADER_END = re.compile(rb"\r?\n\r?\n")


def raw_message_bodies(raw: bytes) -> list[bytes]:
    """Bodies of the message/rfc822 parts of raw, outermost first in document
    order, not descending into them (the parsed tree does the same)."""
    found: list[bytes] = []
    _walk(raw, found, top=True)
    return found


def _split_head(chunk: bytes) -> tuple[bytes, bytes]:
    match = _HEADER_END.search(chunk)
    if match is None:
        return chunk, b""
    return chunk[: match.start()], chunk[match.end() :]


def _walk(chunk: bytes, found: list[bytes], top: bool = False) -> None:
    if chunk.startswith((b"\r\n", b"\n")):  # a part with no headers at all
        head, body = b"", chunk[2 if chunk.startswith(b"\r\n") else 1 :]
    else:
        head, body = _split_head(chunk)
    headers = BytesHeaderParser().parsebytes(head + b"\r\n\r\n")
    ctype = headers.get_content_type()
    if ctype == "message/rfc822" and not top:
        found.append(_decode(body, headers.get("Content-Transfer-Encoding", "")))
        return
    boundary = headers.get_boundary() if headers.get_content_maintype() == "multipart" else None
    if not boundary:
        return
    for part in _split_multipart(body, boundary.encode("latin-1", "replace")):
        _walk(part, found)


def _split_multipart(body: bytes, boundary: bytes) -> list[bytes]:
    # A delimiter is "--" boundary at a line start; the line break before it
    # belongs to the delimiter, not to the part (RFC 2046 5.1.1). Plain
    # find() rather than a regex: this runs over multi-megabyte bodies.
    marker = b"--" + boundary
    parts, start, pos = [], None, 0
    while (pos := body.find(marker, pos)) != -1:
        at_line_start = pos == 0 or body[pos - 1 : pos] == b"\n"
        after = pos + len(marker)
        if not at_line_start:
            pos = after
            continue
        closing = body[after : after + 2] == b"--"
        eol = body.find(b"\n", after)
        rest = body[after + (2 if closing else 0) : eol if eol != -1 else len(body)]
        if rest.strip(b" \t\r"):  # "--boundary-more": a longer boundary, not ours
            pos = after
            continue
        if start is not None:
            cut = pos - 1 if pos > 0 else 0  # drop the LF before the delimiter
            if cut > 0 and body[cut - 1 : cut] == b"\r":
                cut -= 1
            parts.append(body[start:cut])
        if closing:
            return parts
        start = eol + 1 if eol != -1 else len(body)
        pos = start
    if start is not None:  # no close delimiter: take what there is
        parts.append(body[start:])
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
