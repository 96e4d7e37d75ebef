"""Validated detectors: a loose RE2 pattern finds candidates, then a check
digit or a structure rule decides. Only what validates is reported.

Each detector works on a candidate's bytes (ASCII digits and letters after
NFKC normalisation) and yields (value, start, end) with the value in its
compact form, so "4111 1111-1111.1111" and "4111111111111111" count as the
same distinct match."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from stdnum import iban as _iban
from stdnum.de import idnr as _idnr
from stdnum.us import ssn as _ssn

SEPARATORS = b" .-"
# A run of digits where single spaces, dots or dashes may separate groups.
_DIGIT_RUN = r"\d(?:[ .\-]?\d){%d,}"


@dataclass(frozen=True)
class Detector:
    name: str
    label: str
    pattern: str  # RE2, run over NFKC-normalised UTF-8 text
    find: Callable[[bytes], Iterator[tuple[str, int, int]]]
    mask: Callable[[str], str]
    compact: Callable[[str], str]


def _groups(run):
    """Split a digit run into (start, end) spans of its digit groups."""
    spans, start = [], 0
    for i, byte in enumerate(run):
        if byte in SEPARATORS:
            spans.append((start, i))
            start = i + 1
    spans.append((start, len(run)))
    return spans


def _windows(run, lengths, valid, shape_ok=None):
    """Yield (digits, start, end) for windows of whole groups whose digit
    count is in `lengths` and that `valid` accepts. Longer windows are tried
    first; once one validates, the search resumes after it."""
    groups = _groups(run)
    longest = max(lengths)
    i = 0
    while i < len(groups):
        found = None
        candidates, count = [], 0
        for j in range(i, len(groups)):
            count += groups[j][1] - groups[j][0]
            if count > longest:
                break
            if count in lengths:
                candidates.append(j)
        for j in reversed(candidates):
            sizes = [e - s for s, e in groups[i : j + 1]]
            if shape_ok is not None and not shape_ok(sizes):
                continue
            digits = b"".join(run[s:e] for s, e in groups[i : j + 1]).decode()
            if valid(digits):
                found = (digits, groups[i][0], groups[j][1])
                break
        if found:
            yield found
            i = j + 1
        else:
            i += 1


def _compact_digits(value):
    return "".join(c for c in value if c.isdigit())


def _compact_alnum(value):
    return "".join(c for c in value if c.isalnum()).upper()


# --- payment cards -------------------------------------------------------


def luhn_ok(digits):
    total = 0
    for i, char in enumerate(reversed(digits)):
        n = ord(char) - 48
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _in(digits, width, low, high):
    return low <= int(digits[:width]) <= high


def card_issuer(digits):
    """The card brand for a number by its prefix and length, or None."""
    n = len(digits)
    if digits[0] == "4" and n in (13, 16, 19):
        return "Visa"
    if n == 16 and (_in(digits, 2, 51, 55) or _in(digits, 4, 2221, 2720)):
        return "Mastercard"
    if n == 15 and digits[:2] in ("34", "37"):
        return "American Express"
    if 16 <= n <= 19 and (
        digits.startswith(("6011", "65")) or _in(digits, 3, 644, 649) or _in(digits, 6, 622126, 622925)
    ):
        return "Discover"
    if 16 <= n <= 19 and _in(digits, 4, 3528, 3589):
        return "JCB"
    if 14 <= n <= 19 and (_in(digits, 3, 300, 305) or digits.startswith(("3095", "36", "38", "39"))):
        return "Diners Club"
    if 16 <= n <= 19 and digits.startswith("62"):
        return "UnionPay"
    if 12 <= n <= 19 and digits.startswith(("5018", "5020", "5038", "5893", "6304", "6759", "6761", "6762", "6763")):
        return "Maestro"
    return None


def card_valid(digits):
    return card_issuer(digits) is not None and luhn_ok(digits)


def _card_shape(sizes):
    # Cards are printed in groups of 3 to 6 (4-4-4-4, 4-6-5, 4-4-4-4-3);
    # tiny groups are phone numbers, dates and ISBNs.
    return all(size >= 3 for size in sizes)


def _find_cards(run):
    return _windows(run, range(12, 20), card_valid, _card_shape)


def mask_card(value):
    digits = _compact_digits(value)
    middle = "*" * (len(digits) - 8)
    middle = " ".join(middle[i : i + 4] for i in range(0, len(middle), 4))
    return f"{digits[:4]} {middle} {digits[-4:]}"


# --- IBAN ------------------------------------------------------------------


def _find_ibans(candidate):
    # The loose pattern may run on into the next words ("... 00 is my
    # account"): try each length that ends on a boundary, longest first.
    ends = []
    count = 0
    for i, byte in enumerate(candidate):
        if chr(byte).isalnum():
            count += 1
            if 15 <= count <= 34 and (i + 1 == len(candidate) or not chr(candidate[i + 1]).isalnum()):
                ends.append(i + 1)
    for end in reversed(ends):
        value = _compact_alnum(candidate[:end].decode())
        if _iban.is_valid(value):
            yield value, 0, end
            return


def mask_iban(value):
    value = _compact_alnum(value)
    masked = value[:4] + "*" * (len(value) - 6) + value[-2:]
    return " ".join(masked[i : i + 4] for i in range(0, len(masked), 4))


# --- national identifiers --------------------------------------------------


def bsn_valid(digits):
    """The Dutch "11-proof" (as python-stdnum's nl.bsn), inlined: numbers
    are everywhere in mail and this runs for each nine-digit candidate."""
    if len(digits) != 9 or digits == "000000000":
        return False
    total = sum((9 - i) * (ord(c) - 48) for i, c in enumerate(digits[:8])) - (ord(digits[8]) - 48)
    return total % 11 == 0


def _mask_tail(keep):
    def mask(value):
        value = _compact_alnum(value)
        return "*" * (len(value) - keep) + value[-keep:]

    return mask


def _find_numbers(length, valid, shapes=None):
    def shape_ok(sizes):
        return shapes is None or tuple(sizes) in shapes

    def find(run):
        return _windows(run, (length,), valid, shape_ok)

    return find


# UK National Insurance number: python-stdnum has none, so the published
# format rules: two prefix letters (not D F I Q U V; second not O; not the
# administrative prefixes), six digits, suffix A-D.
_NINO_BAD_PREFIXES = {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}


def nino_valid(value):
    value = _compact_alnum(value)
    if len(value) != 9 or not value[2:8].isdigit() or value[8] not in "ABCD":
        return False
    first, second = value[0], value[1]
    return (
        first.isalpha()
        and second.isalpha()
        and first not in "DFIQUV"
        and second not in "DFIQUVO"
        and value[:2] not in _NINO_BAD_PREFIXES
    )


def _find_ninos(candidate):
    if nino_valid(candidate.decode()):
        yield _compact_alnum(candidate.decode()), 0, len(candidate)


def _mask_nino(value):
    value = _compact_alnum(value)
    return f"{value[:2]} ** ** ** {value[8]}"


DETECTORS = {
    d.name: d
    for d in (
        Detector("credit_card", "Payment card number", _DIGIT_RUN % 11, _find_cards, mask_card, _compact_digits),
        Detector(
            "iban",
            "International bank account number (IBAN)",
            r"\b[A-Za-z]{2}\d{2}(?:[ .\-]?[A-Za-z0-9]){11,32}",
            _find_ibans,
            mask_iban,
            _compact_alnum,
        ),
        Detector(
            "nl_bsn",
            "Dutch citizen service number (BSN)",
            _DIGIT_RUN % 8,
            _find_numbers(9, bsn_valid),
            _mask_tail(3),
            _compact_digits,
        ),
        Detector(
            "us_ssn",
            "US social security number",
            r"\b\d{3}[ .\-]?\d{2}[ .\-]?\d{4}\b",
            _find_numbers(9, _ssn.is_valid, {(9,), (3, 2, 4)}),
            _mask_tail(4),
            _compact_digits,
        ),
        Detector(
            "de_idnr",
            "German tax identification number (IdNr)",
            _DIGIT_RUN % 10,
            _find_numbers(11, _idnr.is_valid),
            _mask_tail(3),
            _compact_digits,
        ),
        Detector(
            "uk_nino",
            "UK National Insurance number",
            r"\b[A-Za-z]{2}[ .\-]?\d{2}[ .\-]?\d{2}[ .\-]?\d{2}[ .\-]?[A-Da-d]\b",
            _find_ninos,
            _mask_nino,
            _compact_alnum,
        ),
    )
}
