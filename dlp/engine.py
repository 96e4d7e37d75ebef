"""The DLP matcher: compiled rules screen text units together, then the
rules that may match locate, validate and count their matches.

Pure: rules and text in, a Verdict out. `compile_rules` is cached, so a rule
set used for every message is compiled once per process."""

import functools
from dataclasses import dataclass, field

import re2

from dlp import patterns
from dlp.detectors import DETECTORS
from dlp.findings import Evidence, Hit, Verdict
from dlp.normalise import fold, normalise
from dlp.rules import Rule, RuleError
from dlp.screen import Screen

# Evidence kept per rule; once a rule has this many distinct values (and its
# threshold) it stops locating: the verdict cannot change.
EVIDENCE_MAX = 20


def mask_text(value):
    """A regex match shown without giving it away: ends kept, middle starred."""
    if len(value) <= 4:
        return "*" * len(value)
    keep = min(4, len(value) // 4)
    return value[:keep] + "*" * (len(value) - 2 * keep) + value[-keep:]


@dataclass
class _Compiled:
    rule: Rule
    folded: bool  # keywords match the case-folded text, others the NFKC text
    locate: object  # (nfkc, folded) -> iterable of (value, start, end, masked)
    hotwords: object = None
    exceptions: frozenset = frozenset()
    exception_patterns: tuple = ()
    normalise_value: object = None
    hotword_screen: bytes = b""
    most: int = EVIDENCE_MAX  # distinct values the rule can find (keywords: their number)


def _keyword_locator(rule):
    words = patterns.folded_words(rule.name, rule.keywords, "keywords")
    screen, regex = patterns.keyword_regex(words)

    def locate(nfkc, folded):
        for m in regex.finditer(folded):
            group = 1 if m.start(1) >= 0 else 2
            start, end = m.span(group)
            word = m.group(group)
            # Trailing whole-word boundary, checked here (no look-ahead in RE2).
            if patterns.is_word_char(word.decode("utf-8", "ignore")[-1:] or " "):
                after = folded[end : end + 4].decode("utf-8", "ignore")[:1]
                if after and patterns.is_word_char(after):
                    continue
            value = " ".join(word.decode("utf-8", "replace").split())
            yield value, start, end, value

    return screen, locate


def _regex_locator(rule):
    regex = patterns.compile_user_regex(rule.name, rule.pattern)

    def locate(nfkc, folded):
        for m in regex.finditer(nfkc):
            value = m.group().decode("utf-8", "replace")
            yield value, m.start(), m.end(), mask_text(value)

    return rule.pattern.encode("utf-8"), locate


def _detector_locator(rule):
    detector = DETECTORS.get(rule.detector)
    if detector is None:
        raise RuleError(rule.name, f"unknown detector {rule.detector!r}; known: {', '.join(sorted(DETECTORS))}")
    regex = re2.compile(detector.pattern.encode(), patterns.options())

    def locate(nfkc, folded):
        for m in regex.finditer(nfkc):
            base = m.start()
            for value, start, end in detector.find(m.group()):
                yield value, base + start, base + end, detector.mask(value)

    return detector.pattern.encode(), locate


def _compile(rule):
    if rule.kind == "keywords":
        screen, locate = _keyword_locator(rule)
        safe, normalise_value = True, fold
    elif rule.kind == "regex":
        screen, locate = _regex_locator(rule)
        safe, normalise_value = False, fold
    else:
        screen, locate = _detector_locator(rule)
        safe, normalise_value = True, DETECTORS[rule.detector].compact
    compiled = _Compiled(rule, folded=rule.kind == "keywords", locate=locate, normalise_value=normalise_value)
    if rule.kind == "keywords":
        compiled.most = len({fold(k) for k in rule.keywords if k.strip()})
    if rule.hotwords:
        words = patterns.folded_words(rule.name, rule.hotwords, "hotwords")
        compiled.hotwords = patterns.hotword_regex(words, case_insensitive=not compiled.folded)
        compiled.hotword_screen, _ = patterns.keyword_regex(words)
    compiled.exceptions = frozenset(normalise_value(v) for v in rule.exceptions if v.strip())
    compiled.exception_patterns = tuple(
        patterns.compile_user_regex(rule.name, p) for p in rule.exception_patterns if p.strip()
    )
    return screen, safe, compiled


class CompiledRules:
    """A rule set ready to scan. Raises RuleError for any unusable rule."""

    def __init__(self, rules, use_hyperscan=None):
        self.rules = tuple(rules)
        names = [r.name for r in self.rules]
        if len(set(names)) != len(names):
            raise RuleError(next(n for n in names if names.count(n) > 1), "two rules have the same name")
        self._compiled = []
        folded_entries, nfkc_entries = [], []
        for index, rule in enumerate(self.rules):
            screen, safe, compiled = _compile(rule)
            self._compiled.append(compiled)
            (folded_entries if compiled.folded else nfkc_entries).append((index, screen, safe))
            if compiled.hotword_screen:
                # Key ~index: "a hotword of rule `index` occurs" (folded text).
                folded_entries.append((~index, compiled.hotword_screen, True))
        self._folded_screen = Screen(folded_entries, use_hyperscan) if folded_entries else None
        self._nfkc_screen = Screen(nfkc_entries, use_hyperscan) if nfkc_entries else None
        # ASCII text (most mail) folds to its lower case, so one pass over it,
        # with the folded expressions made case-insensitive, tells the same as
        # the two passes above: about a quarter of the scanning time.
        ascii_entries = nfkc_entries + [(key, b"(?i)" + screen, safe) for key, screen, safe in folded_entries]
        self._ascii_screen = Screen(ascii_entries, use_hyperscan) if ascii_entries else None

    def candidates(self, nfkc, folded):
        """Indices of the rules that may match; a rule needing hotwords only
        when one occurs (checked exactly later for non-ASCII text, where
        the folded screen and the case-insensitive check could differ)."""
        ascii_text = nfkc.isascii()
        found = set()
        if ascii_text and self._ascii_screen is not None:
            found = self._ascii_screen.match(nfkc)
        else:
            if self._folded_screen is not None:
                found |= self._folded_screen.match(folded)
            if self._nfkc_screen is not None:
                found |= self._nfkc_screen.match(nfkc)
        return [
            index
            for index in sorted(k for k in found if k >= 0)
            if not (ascii_text and self._compiled[index].hotword_screen and ~index not in found)
        ]

    def scan(self, units, unscannable=(), unscannable_action="quarantine"):
        """Scan TextUnits; return the Verdict."""
        state = [_RuleState() for _ in self.rules]
        for unit in units:
            if not unit.text:
                continue
            nfkc, folded = normalise(unit.text)
            ascii_text = unit.text.isascii()
            for index in self.candidates(nfkc, folded):
                compiled = self._compiled[index]
                if state[index].done:
                    continue
                # A rule that needs hotwords cannot match in a unit without
                # any (the screen told for ASCII text; one search here else):
                # this spares validating every candidate number.
                text = folded if compiled.folded else nfkc
                if compiled.hotwords is not None and not ascii_text and compiled.hotwords.search(text) is None:
                    continue
                _locate(compiled, state[index], unit.location, nfkc, folded)
        hits = []
        for compiled, st in zip(self._compiled, state, strict=True):
            if len(st.values) >= compiled.rule.threshold:
                hits.append(Hit(compiled.rule.name, compiled.rule.action, len(st.values), tuple(st.evidence)))
        return Verdict(tuple(hits), tuple(unscannable), unscannable_action)


@dataclass
class _RuleState:
    values: set = field(default_factory=set)
    evidence: list = field(default_factory=list)
    done: bool = False


def _locate(compiled, state, location, nfkc, folded):
    rule = compiled.rule
    text = folded if compiled.folded else nfkc
    for value, start, end, masked in compiled.locate(nfkc, folded):
        key = compiled.normalise_value(value)
        if key in state.values or key in compiled.exceptions:
            continue
        if any(p.fullmatch(value.encode("utf-8")) is not None for p in compiled.exception_patterns):
            continue
        if compiled.hotwords is not None:
            # Distance counts UTF-8 bytes: characters, for the ASCII text
            # that numbers and their labels are written in.
            distance = rule.hotword_distance
            window = text[max(0, start - distance) : end + distance]
            if compiled.hotwords.search(window) is None:
                continue
        state.values.add(key)
        if len(state.evidence) < EVIDENCE_MAX:
            state.evidence.append(Evidence(masked, location))
        if len(state.values) >= max(rule.threshold, min(EVIDENCE_MAX, compiled.most)):
            state.done = True
            return


@functools.lru_cache(maxsize=32)
def compile_rules(rules, use_hyperscan=None):
    """Compile (and cache) a tuple of Rules."""
    return CompiledRules(rules, use_hyperscan)


def scan_text(rules, units, unscannable=(), unscannable_action="quarantine"):
    """Convenience: compile (cached) and scan."""
    return compile_rules(tuple(rules)).scan(units, unscannable, unscannable_action)
