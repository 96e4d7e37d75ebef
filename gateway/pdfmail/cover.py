"""The message that carries the PDF: a short text (plain and HTML, from
templates, in the recipient's language) saying what the attachment is and
how to open it, with the PDF attached.

The original's addressing headers travel unchanged, byte for byte, so that
replies thread and recipients see who wrote; everything else (Received,
DKIM signatures, List-*) stays inside the PDF."""

import email
import email.policy
import re
from collections.abc import Mapping
from email.message import EmailMessage

from .templating import TEMPLATE_DIR, render

KEPT_HEADERS = ("from", "to", "cc", "date", "subject", "message-id", "in-reply-to", "references", "reply-to")
LANGUAGES = ("en", "nl", "de")

_FIELD = re.compile(rb"^([!-9;-~]+)[ \t]*:")


def _raw_header_fields(raw: bytes) -> list[tuple[str, bytes]]:
    """(lower-case name, the whole field with its folding, CRLF-ended)."""
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]
    fields: list[tuple[str, list[bytes]]] = []
    for line in re.split(rb"\r?\n", head):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1][1].append(line)
        elif match := _FIELD.match(line):
            fields.append((match.group(1).decode("ascii").lower(), [line]))
    return [(name, b"\r\n".join(lines) + b"\r\n") for name, lines in fields]


def language_of(language: str | None) -> str:
    code = (language or "en").split("-")[0].split("_")[0].lower()
    return code if code in LANGUAGES else "en"


def cover_texts(context: Mapping, language: str = "en", overrides: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(plain text, HTML) of the cover. overrides: {"text": source, "html": source}
    as Django template sources, e.g. a domain's own wording."""
    lang = language_of(language)
    overrides = overrides or {}
    text = render(f"pdfmail/cover_{lang}.txt", dict(context), overrides.get("text"), autoescape=False)
    html = render(f"pdfmail/cover_{lang}.html", dict(context), overrides.get("html"))
    return text.strip() + "\n", html


def build_cover_message(
    original: bytes,
    pdf_bytes: bytes,
    *,
    language: str = "en",
    filename: str = "message.pdf",
    password_via: str | None = None,
    reply_url: str | None = None,
    portal_url: str | None = None,
    overrides: Mapping[str, str] | None = None,
    subject: str | None = None,
) -> bytes:
    """The final message, CRLF line endings throughout.

    password_via: "sms", "sender", "portal" or None; it picks the sentence
    that tells the recipient where the password is (never the password).
    subject: a replacement Subject (e.g. with an [sms:...] trigger removed).
    """
    parsed = email.message_from_bytes(original, policy=email.policy.default)
    shown_subject = subject if subject is not None else str(parsed.get("Subject", "")).strip()
    context = {
        "sender": str(parsed.get("From", "")).strip() or "Someone",
        "subject": shown_subject,
        "filename": filename,
        "password_via": password_via,
        "reply_url": reply_url,
        "portal_url": portal_url,
    }
    text, html = cover_texts(context, language, overrides)

    body = EmailMessage(policy=email.policy.SMTP)
    body.set_content(text)
    body.add_alternative(html, subtype="html")
    body.add_attachment(pdf_bytes, maintype="application", subtype="pdf", filename=filename)
    for part in body.iter_parts():  # the email package repeats it on sub-parts; once is right
        del part["MIME-Version"]
        for sub in part.iter_parts():
            del sub["MIME-Version"]
    if subject is not None:
        body["Subject"] = subject
    body["Content-Language"] = language_of(language)

    kept = b"".join(
        field
        for name, field in _raw_header_fields(original)
        if name in KEPT_HEADERS and not (name == "subject" and subject is not None)
    )
    return kept + body.as_bytes(policy=email.policy.SMTP)


def available_languages() -> list[str]:
    return sorted(p.stem.split("_")[1] for p in (TEMPLATE_DIR / "pdfmail").glob("cover_*.txt"))
