"""Lay a parsed message out as a PDF with weasyprint: headers, body, the list
of attachments and an optional Reply button. Nothing is fetched: the URL
fetcher serves only the message's inline parts and data: URLs."""

import logging
import threading

import weasyprint
from weasyprint.text.fonts import FontConfiguration

from .fetcher import EmbeddedOnlyFetcher
from .labels import labels_for
from .parse import ParsedMessage
from .sanitize import sanitize_html
from .templating import TEMPLATE_DIR, render

log = logging.getLogger(__name__)

# Loading fontconfig's configuration and parsing the stylesheet took a good
# part of each message's time; both are the same for every message. One set
# per thread: weasyprint's font caches are not made for sharing between threads.
_shared = threading.local()


def _resources() -> tuple[FontConfiguration, weasyprint.CSS]:
    if not hasattr(_shared, "css"):
        _shared.fonts = FontConfiguration()
        _shared.css = weasyprint.CSS(
            string=(TEMPLATE_DIR / "pdfmail" / "message.css").read_text(),
            font_config=_shared.fonts,
            url_fetcher=EmbeddedOnlyFetcher(),
        )
    return _shared.fonts, _shared.css


def human_size(n: int) -> str:
    for unit in ("bytes", "KB", "MB"):
        if n < 1024 or unit == "MB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # unreachable: MB is the last unit


def message_html(parsed: ParsedMessage, sizes: list[int], reply_url: str | None, language: str) -> str:
    labels = labels_for(language)
    context = {
        "language": language,
        "labels": labels,
        "subject": parsed.subject,
        "headers": [(name, labels.get(name, name), value) for name, value in parsed.headers],
        "html": sanitize_html(parsed.html) if parsed.html is not None else None,
        "text": parsed.text,
        "extra_texts": parsed.extra_texts,
        "attachments": [
            {"filename": a.filename, "content_type": a.content_type, "size": human_size(size)}
            for a, size in zip(parsed.attachments, sizes, strict=True)
        ],
        "reply_url": reply_url,
    }
    return render("pdfmail/message.html", context)


def html_to_pdf(html: str, inline: dict[str, tuple[str, bytes]]) -> bytes:
    fetcher = EmbeddedOnlyFetcher(inline)
    fonts, css = _resources()
    document = weasyprint.HTML(string=html, base_url=None, url_fetcher=fetcher)
    pdf = document.write_pdf(stylesheets=[css], font_config=fonts)
    if fetcher.refused:
        log.info("refused %d external resource(s) while rendering", len(fetcher.refused))
    return pdf
