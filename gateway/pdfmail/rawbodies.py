"""Parse a message without holding its large attachments as text.

The email package keeps each body as a str while parsing: a 25 MB attachment
is 34 MB of base64 text, plus the decoded copy. Here each large base64 body
(found by rawmime's boundary walk) is swapped for a short marker before
parsing, and decoded later straight from the raw bytes. The parsed tree is
otherwise the one the email package builds; when it does not agree with the
boundary walk on where every marker went, the whole message is parsed the
ordinary way instead."""

import binascii
import email
import email.policy
import secrets
from email.message import EmailMessage

from .rawmime import large_base64_leaves

# Smaller bodies cost little to parse; leave them to the email package.
LARGE = 64 * 1024


class RawBodies:
    """The parts whose bodies were left out of the parse, and where those are."""

    def __init__(self, raw: bytes, spans: dict[EmailMessage, tuple[int, int]]):
        self._raw = raw
        self._spans = spans  # keyed by part identity (Message has no __eq__)

    def __contains__(self, part) -> bool:
        return part in self._spans

    def decode(self, part: EmailMessage) -> bytes:
        start, end = self._spans[part]
        view = memoryview(self._raw)[start:end]  # no copy of the encoded text
        try:
            # Lenient, as the email package is: line breaks and other
            # characters outside the alphabet are skipped.
            return binascii.a2b_base64(view)
        except binascii.Error:
            # Broken padding or length: the email package has its own
            # repairs for that; give it the body and let it decode.
            part.set_payload(bytes(view).decode("ascii", "surrogateescape"))
            payload = part.get_payload(decode=True)
            return payload if payload is not None else b""


def parse_without_large_bodies(raw: bytes) -> tuple[EmailMessage, RawBodies | None]:
    spans = large_base64_leaves(raw, LARGE)
    if spans:
        markers = [f"lockpost-raw-body-{secrets.token_hex(8)}-{i}" for i in range(len(spans))]
        pieces, pos = [], 0
        for (start, end), marker in zip(spans, markers, strict=True):
            pieces += [raw[pos:start], marker.encode("ascii")]
            pos = end
        pieces.append(raw[pos:])
        msg = email.message_from_bytes(b"".join(pieces), policy=email.policy.default)
        found = _find_markers(msg, markers)
        if found is not None:
            return msg, RawBodies(raw, {part: spans[i] for i, part in found.items()})
    return email.message_from_bytes(raw, policy=email.policy.default), None


def _find_markers(msg: EmailMessage, markers: list[str]) -> dict[int, EmailMessage] | None:
    """{marker index: part} when every marker is the whole body of exactly
    one leaf that the parser too takes for a base64, non-text, non-message
    part outside any embedded message; otherwise None."""
    index = {marker: i for i, marker in enumerate(markers)}
    found: dict[int, EmailMessage] = {}
    stack = [msg]
    while stack:
        part = stack.pop()
        if part.is_multipart():
            if part.get_content_maintype() == "multipart":
                stack.extend(part.iter_parts())
            continue  # an embedded message: markers never go inside one
        payload = part.get_payload()
        if not isinstance(payload, str) or payload not in index:
            continue
        if (
            index[payload] in found
            or part.get_content_maintype() in ("text", "multipart", "message")
            # the very test get_payload(decode=True) makes
            or str(part.get("content-transfer-encoding", "")).lower() != "base64"
        ):
            return None
        found[index[payload]] = part
    return found if len(found) == len(markers) else None
