"""The matcher: keywords, expressions, thresholds, hotwords, exceptions,
actions, and what happens with expressions users should not type."""

import time

import pytest

from dlp.engine import CompiledRules, compile_rules, scan_text
from dlp.findings import TextUnit
from dlp.rules import ACTIONS, Rule, RuleError, most_severe


def hits(rules, *texts):
    verdict = scan_text(rules, [TextUnit(f"unit {i}", t) for i, t in enumerate(texts)])
    return {hit.rule: [e.masked for e in hit.evidence] for hit in verdict.hits}


CONFIDENTIAL = Rule("confidential", "keywords", keywords=("confidential", "Project Falcon", "straße", "café"))


@pytest.mark.parametrize(
    "text",
    [
        "This is CONFIDENTIAL.",
        "confidential",
        "about project falcon today",
        "about PROJECT\n  Falcon today",  # phrase across a line break
        "Strasse",  # casefold: ß is ss
        "STRASSE 5",
        "Caf\u0065\u0301 opens",  # decomposed é, NFKC composes it
        "\uff43\uff4f\uff4e\uff46\uff49\uff44\uff45\uff4e\uff54\uff49\uff41\uff4c",  # fullwidth letters
        "(confidential)",
    ],
)
def test_keywords_match_whole_words_whatever_the_case_and_form(text):
    assert "confidential" in hits([CONFIDENTIAL], text)


@pytest.mark.parametrize(
    "text",
    ["nonconfidential", "confidentiality", "Project Falconry", "strasser", "cafés"],
)
def test_keywords_do_not_match_inside_words(text):
    assert hits([CONFIDENTIAL], text) == {}


def test_keyword_evidence_names_the_keyword():
    assert hits([CONFIDENTIAL], "see PROJECT   FALCON") == {"confidential": ["project falcon"]}


def test_keywords_with_punctuation_at_the_edges():
    rule = Rule("lang", "keywords", keywords=("C++", "#secret"))
    assert hits([rule], "we use C++ here") == {"lang": ["c++"]}
    assert hits([rule], "tag #secret!") == {"lang": ["#secret"]}


def test_regex_rule_matches_and_masks():
    rule = Rule("project codes", "regex", pattern=r"PRJ-\d{4}-[A-Z]{3}")
    assert hits([rule], "code PRJ-2024-ABC inside") == {"project codes": ["PRJ******ABC"]}
    assert hits([rule], "code PRJ-24-ABC") == {}


def test_threshold_counts_distinct_values():
    rule = Rule("cards", "detector", detector="credit_card", threshold=3)
    two = "4111 1111 1111 1111 and 5555 5555 5555 4444"
    assert hits([rule], two) == {}
    assert hits([rule], two + " and 4111-1111-1111-1111 again") == {}  # the same card twice
    assert len(hits([rule], two, "also 378282246310005")["cards"]) == 3  # across units


def test_hotwords_must_be_near():
    rule = Rule("bsn", "detector", detector="nl_bsn", hotwords=("BSN", "burgerservicenummer"), hotword_distance=30)
    assert hits([rule], "Uw BSN: 111222333") == {"bsn": ["******333"]}
    assert hits([rule], "111222333 is het burgerservicenummer") == {"bsn": ["******333"]}
    assert hits([rule], "Invoice 111222333") == {}
    assert hits([rule], "BSN" + " filler" * 20 + " 111222333") == {}
    assert hits([rule], "BSNX 111222333") == {}  # a hotword is a whole word too


def test_exceptions_skip_values_and_patterns():
    rule = Rule(
        "cards",
        "detector",
        detector="credit_card",
        exceptions=("4111 1111 1111 1111",),
        exception_patterns=(r"5555\d+",),
    )
    assert hits([rule], "test cards 4111111111111111 and 5555-5555-5555-4444") == {}
    assert hits([rule], "real card 4012 8888 8888 1881") == {"cards": ["4012 **** **** 1881"]}
    words = Rule("words", "keywords", keywords=("secret", "internal"), exceptions=("SECRET",))
    assert hits([words], "secret and internal") == {"words": ["internal"]}


def test_most_severe_action_wins():
    assert ACTIONS == ("warn", "force_encrypt", "quarantine", "block")
    assert most_severe(["warn", "block", "quarantine"]) == "block"
    assert most_severe(["warn", "force_encrypt"]) == "force_encrypt"
    assert most_severe([]) is None
    rules = [
        Rule("a", "keywords", keywords=("alpha",), action="warn"),
        Rule("b", "keywords", keywords=("beta",), action="force_encrypt"),
        Rule("c", "keywords", keywords=("gamma",), action="block"),
    ]
    verdict = scan_text(rules, [TextUnit("body", "alpha beta")])
    assert verdict.action == "force_encrypt"
    assert verdict.rules_hit == ["a", "b"]
    assert scan_text(rules, [TextUnit("body", "alpha gamma beta")]).action == "block"
    assert scan_text(rules, [TextUnit("body", "nothing")]).action is None


@pytest.mark.parametrize(
    ("pattern", "words"),
    [
        (r"(?<=card)\d+", "invalid perl operator: (?<"),
        (r"(\d)\1", "invalid escape sequence: \\1"),
        (r"(unclosed", "missing ): (unclosed"),
        (r"[z-a]", "invalid character class range: z-a"),
    ],
)
def test_invalid_or_unsupported_regex_gives_a_clear_error(pattern, words):
    with pytest.raises(RuleError) as error:
        CompiledRules([Rule("my rule", "regex", pattern=pattern)])
    message = str(error.value)
    assert "my rule" in message
    assert "RE2" in message
    assert f"\u00ab{pattern}\u00bb" in message
    assert words in message
    assert "no look-around, no back-references" in message


def test_regex_matching_empty_text_is_refused():
    with pytest.raises(RuleError, match="matches empty text"):
        CompiledRules([Rule("empty", "regex", pattern=r"x*")])


def test_bad_rule_definitions_are_refused():
    with pytest.raises(RuleError, match="unknown detector"):
        CompiledRules([Rule("d", "detector", detector="passport")])
    with pytest.raises(RuleError, match="unknown action"):
        Rule("d", "keywords", keywords=("x",), action="delete")
    with pytest.raises(RuleError, match="threshold"):
        Rule("d", "keywords", keywords=("x",), threshold=0)
    with pytest.raises(RuleError, match="same name"):
        CompiledRules([Rule("d", "keywords", keywords=("x",)), Rule("d", "keywords", keywords=("y",))])


def test_catastrophic_regex_runs_in_linear_time():
    rule = Rule("evil", "regex", pattern=r"(a+)+$")
    text = "a" * 50_000 + "b"
    started = time.perf_counter()
    verdict = scan_text([rule], [TextUnit("body", text)])
    assert time.perf_counter() - started < 2  # Python's re would take longer than the universe
    assert verdict.hits == ()
    assert scan_text([rule], [TextUnit("body", "a" * 50_000)]).rules_hit == ["evil"]


@pytest.mark.parametrize("use_hyperscan", [False, True])
def test_many_rules_screen_the_same_with_either_back_end(use_hyperscan):
    rules = [Rule(f"kw{i}", "keywords", keywords=(f"word{i}x", f"term{i}y")) for i in range(200)]
    rules.append(Rule("cards", "detector", detector="credit_card"))
    rules.append(Rule("codes", "regex", pattern=r"\bZ\d{3}\b"))
    compiled = compile_rules(tuple(rules), use_hyperscan)
    verdict = compiled.scan([TextUnit("body", "word7x and TERM150Y, word1 term2, Z123, card 4111 1111 1111 1111")])
    assert verdict.rules_hit == ["kw7", "kw150", "cards", "codes"]


def test_verdict_as_dict_is_plain_and_masked():
    verdict = scan_text(
        [Rule("cards", "detector", detector="credit_card", action="block")],
        [TextUnit("attachment a.txt", "4111111111111111")],
    )
    assert verdict.as_dict() == {
        "action": "block",
        "hits": [
            {
                "rule": "cards",
                "action": "block",
                "count": 1,
                "evidence": [{"masked": "4111 **** **** 1111", "location": "attachment a.txt"}],
            }
        ],
        "unscannable": [],
    }
    assert "4111111111111111" not in str(verdict.as_dict())


def test_hotwords_in_non_ascii_text():
    rule = Rule("bsn", "detector", detector="nl_bsn", hotwords=("BSN",), hotword_distance=30)
    assert hits([rule], "Één persoon, BSN: 111222333") == {"bsn": ["******333"]}
    assert hits([rule], "Één factuur 111222333") == {}
    words = Rule("w", "keywords", keywords=("geheim",), hotwords=("Straße",))
    assert hits([words], "STRASSE: geheim") == {"w": ["geheim"]}
    assert hits([words], "Weg: geheim") == {}


@pytest.mark.parametrize("tail", ["", " caf\u00e9"])  # ASCII text takes one screening pass, other text two
def test_one_pass_over_ascii_text_finds_what_two_passes_find(tail):
    rules = [
        CONFIDENTIAL,
        Rule("codes", "regex", pattern=r"\bZ\d{3}\b"),
        Rule("cards", "detector", detector="credit_card"),
    ]
    assert set(hits(rules, "CONFIDENTIAL: STRASSE, z123, Z456, 4111 1111 1111 1111" + tail)) == {
        "confidential",
        "codes",
        "cards",
    }
    # A user's expression keeps its case: only Z456 counts, in either path.
    assert hits(rules, "z123 and Z456" + tail)["codes"] == hits([rules[1]], "Z456")["codes"]
