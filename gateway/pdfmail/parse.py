"""Read a raw message into what the PDF shows: decoded headers, one body,
inline images and the attachments. Reading only: nothing here re-serialises
the message, and every attachment is decoded once, when it is asked for."""

import email
import email.policy
import re
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesHeaderParser

from .rawbodies import RawBodies, parse_without_large_bodies
from .rawmime import raw_message_bodies

SHOWN_HEADERS = ("From", "To", "Cc", "Date", "Subject")


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    part: EmailMessage = field(repr=False)
    raw_body: bytes | None = field(default=None, repr=False)  # message/rfc822: the exact bytes sent
    bodies: RawBodies | None = field(default=None, repr=False)  # where large bodies were left out of the parse

    def data(self) -> bytes:
        """The attachment's bytes, decoded from its transfer encoding."""
        if self.raw_body is not None:
            return self.raw_body
        return _payload(self.part, self.bodies)


@dataclass(frozen=True)
class ParsedMessage:
    headers: list[tuple[str, str]]  # (name, decoded value) for SHOWN_HEADERS present
    subject: str
    text: str | None  # plain text body, when that is what is shown
    html: str | None  # raw (unsanitised) HTML body, when that is what is shown
    extra_texts: list[str]  # further inline text parts (list footers and the like)
    inline: dict[str, tuple[str, bytes]]  # Content-ID (no brackets) -> (type, bytes)
    attachments: list[Attachment]


def parse_message(raw: bytes, prefer: str = "html") -> ParsedMessage:
    msg, large = parse_without_large_bodies(raw)
    headers = []
    for name in SHOWN_HEADERS:
        values = msg.get_all(name) or []
        for value in values:
            headers.append((name, _header_text(value)))
    subject = _header_text(msg.get("Subject", ""))

    order = ("html", "plain") if prefer == "html" else ("plain", "html")
    body = msg.get_body(preferencelist=order)
    text = html = None
    if body is not None:
        content = _text_content(body)
        if body.get_content_subtype() == "html":
            html = content
        else:
            text = content

    # Exact bytes of embedded messages, in walk order; if the raw split and the
    # parsed tree disagree on how many there are, trust neither slice.
    expected = _count_rfc822(msg)
    bodies = raw_message_bodies(raw) if expected else []
    if len(bodies) != expected:
        bodies = []
    raw_rfc822 = iter(bodies)
    inline, attachments, extra_texts = {}, [], []
    for part, in_alternative in _leaves(msg, raw_rfc822):
        if part is body:
            continue
        if isinstance(part, Attachment):
            attachments.append(part)
            continue
        ctype = part.get_content_type()
        disposition = part.get_content_disposition()
        filename = part.get_filename()
        cid = (part.get("Content-ID") or "").strip().strip("<>")
        if disposition != "attachment" and not filename and part.get_content_maintype() == "text":
            if in_alternative:
                continue  # the other rendering of the body
            if ctype == "text/plain":
                extra_texts.append(_text_content(part))
                continue
        if cid and disposition != "attachment" and part.get_content_maintype() == "image":
            inline[cid] = (ctype, _payload(part, large))
            if not filename:
                continue  # an inline picture of the body, shown there
        name = _safe_filename(filename) or _default_name(ctype, len(attachments) + 1)
        attachments.append(Attachment(name, ctype, part, bodies=large))
    return ParsedMessage(headers, subject, text, html, extra_texts, inline, attachments)


def _payload(part, bodies: RawBodies | None) -> bytes:
    if bodies is not None and part in bodies:
        return bodies.decode(part)
    payload = part.get_payload(decode=True)
    return payload if payload is not None else b""


def _leaves(part, raw_rfc822, in_alternative=False):
    """Yield (leaf part, inside multipart/alternative) in order; embedded
    messages come out whole, as .eml attachments."""
    if part.get_content_type() == "message/rfc822":
        raw_body = next(raw_rfc822, None)
        inner = part.get_payload(0) if part.is_multipart() else None
        if raw_body is None:  # the splitter could not find it: fall back to re-serialising
            raw_body = inner.as_bytes(policy=email.policy.SMTP) if inner is not None else b""
        # Name it from the bytes sent: when it came base64-encoded, the parser
        # did not see the message inside.
        headers = BytesHeaderParser(policy=email.policy.default).parsebytes(raw_body)
        name = _safe_filename(part.get_filename()) or _eml_name(headers)
        yield Attachment(name, "message/rfc822", part, raw_body), in_alternative
        return
    if part.is_multipart():
        alternative = in_alternative or part.get_content_subtype() == "alternative"
        for sub in part.iter_parts():
            yield from _leaves(sub, raw_rfc822, alternative)
        return
    yield part, in_alternative


def _count_rfc822(part) -> int:
    if part.get_content_type() == "message/rfc822":
        return 1
    if part.is_multipart():
        return sum(_count_rfc822(sub) for sub in part.iter_parts())
    return 0


def _text_content(part) -> str:
    try:
        text = part.get_content()
    except (LookupError, UnicodeError):  # unknown or lying charset
        payload = part.get_payload(decode=True) or b""
        text = payload.decode("utf-8", errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _header_text(value) -> str:
    # policy.default already decodes RFC 2047; collapse folding whitespace.
    return re.sub(r"\s*\r?\n\s*", " ", str(value)).strip()


def _safe_filename(name: str | None) -> str:
    """The last path segment, without control characters: a name is for
    showing and saving, never a path."""
    if not name:
        return ""
    name = re.sub(r"[\x00-\x1f\x7f]+", "", name).replace("\\", "/").rsplit("/", 1)[-1]
    return name.strip().lstrip(".") or ""


def _eml_name(inner) -> str:
    subject = _header_text(inner.get("Subject", "")) if inner is not None else ""
    safe = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', "_", subject).strip(" ._")[:80]
    return f"{safe or 'message'}.eml"


_EXTENSIONS = {
    "text/plain": "txt",
    "text/html": "html",
    "application/pdf": "pdf",
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "text/calendar": "ics",
}


def _default_name(ctype: str, n: int) -> str:
    return f"attachment-{n}.{_EXTENSIONS.get(ctype, 'bin')}"
