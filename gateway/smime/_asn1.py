"""Parsing guard: asn1crypto parses lazily, so damage surfaces on first access
as ValueError, TypeError, KeyError and friends. Inside the codec, every such
error on untrusted bytes becomes ``MalformedCms``."""

import functools

from asn1crypto import cms

from .errors import MalformedCms, SmimeError

_PARSE_ERRORS = (ValueError, TypeError, KeyError, IndexError, OverflowError, EOFError)


def guarded(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except SmimeError:
            raise
        except _PARSE_ERRORS as exc:
            raise MalformedCms(f"damaged CMS structure ({type(exc).__name__}: {exc})") from exc

    return wrapper


def load_content_info(der: bytes, *expected: str) -> tuple[str, cms.ContentInfo]:
    if not der:
        raise MalformedCms("empty CMS")
    try:
        info = cms.ContentInfo.load(der)
        kind = info["content_type"].native
    except _PARSE_ERRORS as exc:
        raise MalformedCms(f"not a CMS ContentInfo ({exc})") from exc
    if expected and kind not in expected:
        raise MalformedCms(f"CMS holds {kind}, expected {' or '.join(expected)}")
    return kind, info


def content_type_of(der: bytes) -> str:
    """The CMS content type (signed_data, enveloped_data, ...), without parsing the rest."""
    return load_content_info(der)[0]


# ---------------------------------------------------------------- hand-built DER
#
# Writing only. asn1crypto copies and re-encodes every child it is handed,
# which costs milliseconds per message (and copies a large body several
# times). The builders in ``signed`` and ``envelope`` assemble their output
# from pre-encoded parts with these few functions instead; constant parts
# (OIDs, algorithm identifiers) still come from asn1crypto, encoded once.
# Each function's output equals asn1crypto's for the same value (tested).


def der_tlv(tag: int, *content: bytes) -> bytes:
    """One DER element: a single-byte tag, the definite length, the content (given in pieces)."""
    n = sum(map(len, content))
    if n < 0x80:
        header = bytes((tag, n))
    else:
        length = n.to_bytes((n.bit_length() + 7) // 8, "big")
        header = bytes((tag, 0x80 | len(length))) + length
    return b"".join((header, *content))  # one copy of the content, however many pieces


def der_sequence(*parts: bytes) -> bytes:
    return der_tlv(0x30, *parts)


def der_set_of(parts) -> bytes:
    """SET OF: DER orders the encoded elements (X.690 11.6), as asn1crypto does."""
    return der_tlv(0x31, *sorted(parts))


def der_octet_string(data: bytes) -> bytes:
    return der_tlv(0x04, data)


def der_small_int(value: int) -> bytes:
    """INTEGER for versions and lengths (0..127: one content byte)."""
    if not 0 <= value < 0x80:
        raise ValueError("der_small_int takes 0..127")
    return bytes((0x02, 1, value))


def der_explicit(number: int, content: bytes) -> bytes:
    """[number] EXPLICIT around an encoded element (context-specific, constructed)."""
    return der_tlv(0xA0 | number, content)


def der_implicit(number: int, element: bytes, *, constructed: bool) -> bytes:
    """[number] IMPLICIT: the element's own tag replaced by the context tag."""
    tag = bytes((0x80 | (0x20 if constructed else 0) | number,))
    return b"".join((tag, memoryview(element)[1:]))  # (slicing bytes would copy a large element twice)
