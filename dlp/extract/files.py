"""One file's bytes to text units: sniffed by content, not by the name the
sender gave it, so a renamed archive or document is still opened."""

from dlp.extract import archive, office
from dlp.extract.html import html_to_text
from dlp.extract.limits import Unreadable
from dlp.extract.pdf import pdf_contents
from dlp.extract.text import decode, is_text_type, looks_like_text

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def extract_file(ctx, name, data, location, depth, content_type="application/octet-stream", charset=None):
    """Add `data`'s text to ctx under `location`; containers recurse."""
    ctx.budget.check_depth(depth)
    ctx.budget.check_time()
    lower = name.lower()
    if data.startswith(ZIP_MAGIC):
        _zip(ctx, data, location, depth)
    elif b"%PDF-" in data[:1024]:
        texts = []
        for what, label, value in pdf_contents(data, ctx.budget):
            if what == "text":
                texts.append(value)
            else:
                ctx.guard(f"{location}/{label}", extract_file, ctx, label, value, f"{location}/{label}", depth + 1)
        ctx.add(location, "\n".join(texts))
    elif content_type.startswith("message/") or lower.endswith(".eml"):
        from dlp.extract.mime import parse, walk_message

        walk_message(ctx, parse(data), f"{location} > ", depth + 1)
    elif is_text_type(content_type) or looks_like_text(data):
        text = decode(data, charset)
        if content_type == "text/html" or lower.endswith((".html", ".htm")):
            text = html_to_text(text)
        ctx.add(location, text)
    # Anything else (images, unknown binaries) holds no text we can read.


def _zip(ctx, data, location, depth):
    zf = archive.open_zip(data)
    doc_kind = office.kind(zf)
    if doc_kind:
        texts = []
        for what, member, value in office.document_text(zf, doc_kind, ctx.budget):
            if what == "text":
                texts.append(value)
            else:
                where = f"{location}/{member}"
                ctx.guard(where, extract_file, ctx, member, value, where, depth + 1)
        ctx.add(location, "\n".join(texts))
        return
    for info in archive.files(zf):
        where = f"{location}/{info.filename}"
        ctx.guard(where, _member, ctx, zf, info, where, depth + 1)


def _member(ctx, zf, info, location, depth):
    ctx.budget.check_depth(depth)
    data = archive.read_member(zf, info, ctx.budget)
    extract_file(ctx, info.filename.rpartition("/")[2], data, location, depth)


__all__ = ["Unreadable", "extract_file"]
