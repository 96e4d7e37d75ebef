"""Building RE2 expressions: the ones users type, and the ones Lockpost
makes from keyword and hotword lists.

Every expression a user types is compiled by RE2 only, so matching time is
linear in the text whatever the expression."""

import re2

from dlp.normalise import fold
from dlp.rules import RuleError

WORD = r"\p{L}\p{N}_"
# Leading whole-word boundary: RE2 has no look-behind and its \b is ASCII
# only, so a non-word character (or the start) is consumed before the word.
LEAD = rb"(?:\A|[^" + WORD.encode() + rb"])"


def options():
    opts = re2.Options()
    opts.max_mem = 64 << 20  # room for large alternations before RE2 gives up
    opts.log_errors = False
    return opts


def compile_user_regex(rule_name, pattern):
    """Compile a user's expression or raise RuleError saying what is wrong."""
    try:
        regex = re2.compile(pattern.encode("utf-8"), options())
    except re2.error as exc:
        detail = exc.args[0] if exc.args else ""
        detail = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
        raise RuleError(
            rule_name,
            f"invalid or unsupported regular expression \u00ab{pattern}\u00bb: {detail}. "
            "Expressions use RE2 syntax (no look-around, no back-references).",
        ) from None
    if regex.fullmatch(b"") is not None:
        # It would "match" in every message.
        raise RuleError(rule_name, f"the regular expression \u00ab{pattern}\u00bb matches empty text")
    return regex


def escape(text):
    """Escape for both RE2 and Hyperscan: ASCII punctuation gets a backslash;
    UTF-8 bytes of other characters stay as they are (re2.escape would put a
    backslash before each byte, which Hyperscan reads differently)."""
    out = []
    for char in text:
        if char.isascii() and not char.isalnum() and char != " ":
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out).encode("utf-8")


def phrase(keyword):
    """A folded keyword as an expression: words separated by any whitespace."""
    return rb"\s+".join(escape(word) for word in keyword.split(" "))


def is_word_char(char):
    return char.isalnum() or char == "_"


def folded_words(rule_name, words, what):
    words = [fold(w) for w in words]
    words = sorted({w for w in words if w}, key=len, reverse=True)  # longest first: "project x" before "project"
    if not words:
        raise RuleError(rule_name, f"{what} are empty")
    return words


def _ascii_word_char(char):
    return char.isascii() and is_word_char(char)


def _screen_word(word):
    # RE2 (on bytes) and Hyperscan share an ASCII-only \b. Where the keyword
    # edge is an ASCII word character, any whole-word match also has an
    # ASCII \b there, so the screen stays a superset of what is located.
    lead = rb"\b" if _ascii_word_char(word[0]) else b""
    tail = rb"\b" if _ascii_word_char(word[-1]) else b""
    return lead + phrase(word) + tail


def keyword_regex(words):
    """(screen, locate) expressions for folded keywords. The locate
    expression has group 1 for keywords starting with a word character
    (whole-word boundary consumed before it) and group 2 for the others."""
    screen = b"|".join(_screen_word(w) for w in words)
    lead = [phrase(w) for w in words if is_word_char(w[0])]
    plain = [phrase(w) for w in words if not is_word_char(w[0])]
    parts = []
    parts.append(LEAD + b"(" + b"|".join(lead) + b")" if lead else b"(\\z.\\A)")
    if plain:
        parts.append(b"(" + b"|".join(plain) + b")")
    return screen, re2.compile(b"|".join(parts), options())


def hotword_regex(words, case_insensitive):
    """Any of `words` as a whole word, for a window around a match."""
    flags = b"(?i)" if case_insensitive else b""
    body = b"|".join(phrase(w) for w in words)
    return re2.compile(flags + LEAD + b"(?:" + body + rb")(?:[^" + WORD.encode() + rb"]|\z)", options())
