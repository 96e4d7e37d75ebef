"""Bytes to str for text parts, whatever the charset claims."""

import codecs

TEXT_TYPES = {
    "application/json",
    "application/xml",
    "application/csv",
    "application/x-yaml",
    "application/yaml",
    "application/javascript",
    "application/rtf",
    "application/x-sh",
    "application/sql",
    "application/ld+json",
}


def is_text_type(content_type):
    return content_type.startswith("text/") or content_type in TEXT_TYPES or content_type.endswith(("+xml", "+json"))


def looks_like_text(data):
    """A guess for parts labelled application/octet-stream and the like."""
    head = data[:8192]
    if head.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return True
    if b"\x00" in head:
        return False
    controls = sum(1 for b in head if b < 9 or 13 < b < 32)
    return controls <= len(head) // 20


def decode(data, charset=None):
    """Decode with the declared charset if it is known; otherwise by BOM,
    then UTF-8, then Windows-1252. Never raises."""
    for bom, name in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            return data.decode(name, "replace")
    if charset:
        try:
            return data.decode(charset, "replace")
        except LookupError:
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")
