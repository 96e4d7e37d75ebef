"""Screening: one pass over the text tells which rules may match, so only
those are run to locate their matches.

Two back ends. RE2's Set runs every expression in one lazily built DFA.
Hyperscan, when installed, is several times faster on large rule sets, but
its syntax and semantics differ from RE2 in corners (\\b, \\s, Unicode
classes), so it screens only the expressions Lockpost builds itself
(keyword lists, detectors), whose meaning is the same in both. User
expressions always go through RE2. A screen may report a rule that does not
match in the end (it is then located and dropped); it must never miss one."""

import threading

import re2

from dlp.patterns import options

try:
    import hyperscan
except ImportError:  # optional accelerator
    hyperscan = None

# Below this many expressions RE2's Set is as fast and starts sooner.
HYPERSCAN_MIN = 20


class Screen:
    """Built from (key, expression bytes, hyperscan_safe) entries;
    `match(data)` returns the keys whose expressions occur in `data`."""

    def __init__(self, entries, use_hyperscan=None):
        if use_hyperscan is None:
            # Only when Hyperscan can take every expression: user expressions
            # need a second pass through RE2, which costs more than it saves
            # (measured: one RE2 pass 101 MB/s, Hyperscan + RE2 69 MB/s at
            # 1,000 rules over ASCII text).
            use_hyperscan = hyperscan is not None and len(entries) >= HYPERSCAN_MIN and all(e[2] for e in entries)
        self._hs = None
        self._local = threading.local()
        hs_entries = [(k, p) for k, p, safe in entries if safe] if use_hyperscan and hyperscan else []
        if hs_entries:
            try:
                self._hs_keys = [k for k, _ in hs_entries]
                self._hs = hyperscan.Database()
                self._hs.compile(
                    expressions=[p for _, p in hs_entries],
                    ids=list(range(len(hs_entries))),
                    elements=len(hs_entries),
                    flags=[hyperscan.HS_FLAG_SINGLEMATCH] * len(hs_entries),
                )
            except hyperscan.error:
                self._hs, hs_entries = None, []
        in_hs = {k for k, _ in hs_entries}
        re2_entries = [(k, p) for k, p, _ in entries if k not in in_hs]
        self._set = None
        self._set_keys = [k for k, _ in re2_entries]
        self._singles = [(k, re2.compile(p, options())) for k, p in re2_entries]
        if re2_entries:
            self._set = re2.Set.SearchSet(options())
            for _, pattern in re2_entries:
                self._set.Add(pattern)
            # A pattern that always matches: if it is missing from a result,
            # the DFA ran out of memory and the result means nothing.
            self._sentinel = self._set.Add(b"")
            self._set.Compile()

    def match(self, data):
        found = set()
        if self._hs is not None:
            scratch = getattr(self._local, "scratch", None)
            if scratch is None:  # Hyperscan scratch space is per thread
                scratch = self._local.scratch = hyperscan.Scratch(self._hs)
            keys = self._hs_keys

            def on_match(index, start, end, flags, context):
                found.add(keys[index])

            self._hs.scan(data, match_event_handler=on_match, scratch=scratch)
        if self._set is not None:
            indices = self._set.Match(data) or []
            if self._sentinel in indices:
                found.update(self._set_keys[i] for i in indices if i != self._sentinel)
            else:
                # Slower, but never wrong.
                found.update(k for k, regex in self._singles if regex.search(data) is not None)
        return found
