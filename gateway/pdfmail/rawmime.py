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
    # A delimiter is CRLF "--" boundary at a line start; the CRLF before it
    # belongs to the delimiter, not to the part (RFC 2046 5.1.1).
    pattern = re.compile(rb"(?:^|\r?\n)--" + re.escape(boundary) + rb"(--)?[ \t]*(?:\r?\n|$)")
    parts, start = [], None
    for match in pattern.finditer(body):
        if start is not None:
            parts.append(body[start : match.start()])
        if match.group(1):  # the close delimiter
            return parts
        start = match.end()
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
