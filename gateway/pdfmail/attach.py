"""Embed attachments as PDF file attachments (the paper clip panel), with
their file names and MIME types, byte for byte."""

import hashlib
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


# Deflate at level 1: several times faster than the default level, and for
# mail attachments only a little larger.
_LEVEL = 1
# Compressibility is judged on a few samples before deflating everything:
# random-looking data (encrypted, or compressed under a generic type such as
# application/octet-stream) deflates slowly and gains nothing.
_SAMPLE = 32 * 1024
_SAMPLES = 3
_WORTH = 0.9  # keep deflated data only when it is at most this share of the original


def deflated(data: bytes) -> bytes | None:
    """data deflated, or None when storing it as it is is as good."""
    view = memoryview(data)
    if len(data) > _SAMPLE * _SAMPLES * 2:
        step = (len(data) - _SAMPLE) // (_SAMPLES - 1)
        probe = sum(len(zlib.compress(view[i * step : i * step + _SAMPLE], _LEVEL)) for i in range(_SAMPLES))
        if probe > _WORTH * _SAMPLE * _SAMPLES:
            return None
    packed = zlib.compress(view, _LEVEL)
    return packed if len(packed) <= _WORTH * len(data) else None


def embed(pdf: pikepdf.Pdf, filename: str, content_type: str, data: bytes, taken: set[str]) -> str:
    name = unique_name(filename, taken)
    packed = deflated(data) if worth_compressing(content_type) and data else None
    if packed is None:
        spec = pikepdf.AttachedFileSpec(pdf, data, filename=name, mime_type=content_type)
    else:
        # Hand pikepdf only the deflated bytes (not a copy of the original that
        # the deflated ones then replace), marked so, so that saving can leave
        # every stream as it is. Size and checksum describe the original, as
        # pikepdf would have set them.
        spec = pikepdf.AttachedFileSpec(pdf, b"", filename=name, mime_type=content_type)
        stream = spec.obj.EF.F
        stream.write(packed, filter=pikepdf.Name.FlateDecode)
        stream.Params.Size = len(data)
        stream.Params.CheckSum = pikepdf.String(hashlib.md5(data, usedforsecurity=False).digest())
    pdf.attachments[name] = spec
    return name
