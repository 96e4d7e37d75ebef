"""Text from PDF files with pypdf, page by page within the budget.

pypdf caps what a single stream may inflate to; the time limit is checked
between pages (a single page cannot be interrupted in-process)."""

import io
import logging

from dlp.extract.limits import Unreadable

# pypdf warns about every oddity of real-world PDFs; they are not our errors.
logging.getLogger("pypdf").setLevel(logging.ERROR)


def pdf_contents(data, budget):
    """Yield ("text", page label, text) and ("embedded", name, bytes)."""
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise Unreadable("encrypted PDF")
        pages = reader.pages
        if len(pages) > budget.limits.max_pdf_pages:
            raise Unreadable(f"PDF has more than {budget.limits.max_pdf_pages} pages")
    except Unreadable:
        raise
    except Exception as exc:  # pypdf raises many kinds on hostile input
        raise Unreadable(f"corrupt PDF: {type(exc).__name__}: {exc}")
    for number in range(len(pages)):
        budget.check_time()
        try:
            text = pages[number].extract_text() or ""
        except Exception as exc:
            raise Unreadable(f"corrupt PDF page {number + 1}: {type(exc).__name__}: {exc}")
        budget.reserve(len(text))
        yield "text", f"page {number + 1}", text
    try:
        attachments = reader.attachments
    except Exception as exc:
        raise Unreadable(f"corrupt PDF attachments: {type(exc).__name__}: {exc}")
    for name, contents in attachments.items():
        for item in contents:
            budget.count_file()
            budget.reserve(len(item))
            yield "embedded", name, item
