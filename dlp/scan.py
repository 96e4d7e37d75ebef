"""The one call the pipeline makes: message bytes and rules in, a Verdict out."""

from dlp.engine import compile_rules
from dlp.extract import DEFAULT_HEADERS, extract


def scan_message(rules, raw, limits=None, headers=DEFAULT_HEADERS, unscannable_action="quarantine"):
    """Scan every part of `raw` against `rules` (a sequence of Rule)."""
    extraction = extract(raw, limits, headers)
    return compile_rules(tuple(rules)).scan(extraction.units, extraction.unscannable, unscannable_action)
