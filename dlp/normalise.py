"""Text normalisation before matching.

Matching runs on UTF-8 bytes: RE2 and Hyperscan read bytes natively, and the
re2 wrapper would otherwise re-encode a str on every call. Two forms:
NFKC (fullwidth digits become ASCII digits, ligatures split) for regular
expressions and detectors, and NFKC + casefold for keywords."""

import unicodedata

# Invisible characters that split a number or a word without showing:
# soft hyphen, zero-width space/joiners, word joiner, BOM.
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"))


def normalise(text):
    """Return (nfkc, folded) as UTF-8 bytes."""
    if text.isascii():
        # The common case, and O(1) to test: NFKC is the identity on ASCII
        # and casefold is lower().
        data = text.encode("ascii")
        return data, data.lower()
    text = unicodedata.normalize("NFKC", text.translate(_INVISIBLE))
    return text.encode("utf-8", "replace"), text.casefold().encode("utf-8", "replace")


def fold(text):
    """A keyword, hotword or exception value in the form it is compared in."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())
