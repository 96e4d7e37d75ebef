"""The whole job in one call: raw message in, (encrypted) PDF out.

    pdf = encrypted_message_pdf(raw, "Gk7m-4Rtq-xP2a", reply_url=url, language="nl")

Each attachment is decoded once and handed to the PDF; the PDF is opened
once and saved once."""

import io
from collections.abc import Mapping

import pikepdf

from .attach import embed
from .encrypt import encryption
from .parse import parse_message
from .render import html_to_pdf, message_html


def _build(raw: bytes, reply_url, language, prefer, enc) -> bytes:
    parsed = parse_message(raw, prefer=prefer)
    files = [(a.filename, a.content_type, a.data()) for a in parsed.attachments]
    html = message_html(parsed, [len(f[2]) for f in files], reply_url, language)
    inline = parsed.inline
    del parsed  # the parsed tree holds the encoded attachments: let it go before the PDF grows
    rendered = html_to_pdf(html, inline)
    with pikepdf.open(io.BytesIO(rendered)) as pdf:
        taken: set[str] = set()
        while files:
            filename, content_type, data = files.pop(0)  # handed over: the PDF keeps the only copy
            embed(pdf, filename, content_type, data, taken)
            del data
        out = io.BytesIO()
        # Streams are compressed already (weasyprint's, and attachments as
        # embed chose): do not spend a pass over tens of MB again.
        pdf.save(
            out,
            encryption=enc or False,
            compress_streams=False,
            object_stream_mode=pikepdf.ObjectStreamMode.preserve,
        )
        return out.getvalue()


def render_message_pdf(
    raw: bytes, *, reply_url: str | None = None, language: str = "en", prefer: str = "html"
) -> bytes:
    """The message as an unencrypted PDF with its attachments embedded."""
    return _build(raw, reply_url, language, prefer, None)


def encrypted_message_pdf(
    raw: bytes,
    user_password: str,
    *,
    reply_url: str | None = None,
    language: str = "en",
    aes: int = 256,
    permissions: Mapping[str, bool] | None = None,
    prefer: str = "html",
) -> bytes:
    """The message as a PDF that opens only with user_password."""
    return _build(raw, reply_url, language, prefer, encryption(user_password, aes, permissions))
