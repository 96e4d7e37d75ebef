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
