"""Embed attachments as PDF file attachments (the paper clip panel), with
their file names and MIME types, byte for byte."""

import zlib

import pikepdf

# Types that are compressed already: deflating them again costs time and
# saves nothing, which matters for a 25 MB video or archive.
_PRECOMPRESSED_MAIN = {"image", "video", "audio"}
_PRECOMPRESSED = {
    "application/zip", "application/gzip", "application/x-gzip", "application/x-7z-compressed",
    "application/x-rar-compressed", "application/vnd.rar", "application/x-xz", "application/x-bzip2",
    "application/zstd", "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.spreadsheet",
}  # fmt: skip
_IMAGE_EXCEPTIONS = {"image/svg+xml", "image/bmp", "image/x-ms-bmp", "image/tiff"}


def worth_compressing(content_type: str) -> bool:
    ctype = content_type.lower()
    if ctype in _IMAGE_EXCEPTIONS:
        return True
    return ctype not in _PRECOMPRESSED and ctype.split("/")[0] not in _PRECOMPRESSED_MAIN


def unique_name(filename: str, taken: set[str]) -> str:
    """Two attachments may share a name; the PDF's names tree may not."""
    name, n = filename, 1
    stem, dot, ext = filename.rpartition(".")
    while name in taken:
        n += 1
        name = f"{stem} ({n}).{ext}" if dot and stem else f"{filename} ({n})"
    taken.add(name)
    return name


def embed(pdf: pikepdf.Pdf, filename: str, content_type: str, data: bytes, taken: set[str]) -> str:
    name = unique_name(filename, taken)
    spec = pikepdf.AttachedFileSpec(pdf, data, filename=name, mime_type=content_type)
    if worth_compressing(content_type) and data:
        # Deflate here and mark it so, so that saving can leave every stream
        # as it is (no second pass over large, incompressible data).
        stream = spec.obj.EF.F
        stream.write(zlib.compress(data, 6), filter=pikepdf.Name.FlateDecode)
    pdf.attachments[name] = spec
    return name
