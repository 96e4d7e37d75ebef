"""Rules inherited from gateway to domain to user, with exemptions."""

from dlp.engine import scan_text
from dlp.findings import TextUnit
from dlp.inherit import Level, effective_rules
from dlp.rules import Rule

CARDS = Rule("cards", "detector", detector="credit_card", action="block", exemptible=False)
IBAN = Rule("iban", "detector", detector="iban", action="quarantine")
FALCON = Rule("falcon", "keywords", keywords=("Project Falcon",), action="warn")
BSN = Rule("bsn", "detector", detector="nl_bsn", hotwords=("bsn",))
GATEWAY = Level("gateway", rules=(CARDS, IBAN))


def names(effective):
    return [r.name for r in effective.rules]


def test_gateway_rules_apply_to_everyone():
    effective = effective_rules([GATEWAY, Level("domain example.com"), Level("user a@example.com")])
    assert names(effective) == ["cards", "iban"]
    assert effective.origin == {"cards": "gateway", "iban": "gateway"}


def test_domain_and_user_add_rules():
    effective = effective_rules([GATEWAY, Level("domain example.com", rules=(FALCON,)), Level("user a", rules=(BSN,))])
    assert names(effective) == ["cards", "iban", "falcon", "bsn"]
    assert effective.origin["falcon"] == "domain example.com"
    assert effective.origin["bsn"] == "user a"


def test_exemption_from_an_exemptible_rule():
    effective = effective_rules([GATEWAY, Level("domain finance.example", exemptions=("iban",))])
    assert names(effective) == ["cards"]
    assert effective.exempted == {"iban": "domain finance.example"}
    verdict = scan_text(effective.rules, [TextUnit("body", "NL91 ABNA 0417 1643 00")])
    assert verdict.action is None


def test_exemption_from_a_mandatory_rule_is_refused_and_reported():
    effective = effective_rules([GATEWAY, Level("user a", exemptions=("cards",))])
    assert names(effective) == ["cards", "iban"]
    assert effective.refused == (("user a", "cards", "rule from gateway does not allow exemption"),)
    assert scan_text(effective.rules, [TextUnit("body", "4111111111111111")]).action == "block"


def test_user_can_exempt_from_a_domain_rule_and_domain_exemption_covers_users():
    domain = Level("domain example.com", rules=(FALCON,), exemptions=("iban",))
    effective = effective_rules([GATEWAY, domain, Level("user a", exemptions=("falcon", "iban"))])
    assert names(effective) == ["cards"]
    assert effective.exempted == {"iban": "domain example.com", "falcon": "user a"}
    assert effective.refused == (("user a", "iban", "no such inherited rule"),)


def test_redefining_a_rule_replaces_it_only_when_exemptible():
    stricter = Rule("iban", "detector", detector="iban", action="block")
    weaker_cards = Rule("cards", "detector", detector="credit_card", action="warn")
    effective = effective_rules([GATEWAY, Level("domain d", rules=(stricter, weaker_cards))])
    assert [(r.name, r.action) for r in effective.rules] == [("cards", "block"), ("iban", "block")]
    assert effective.origin == {"cards": "gateway", "iban": "domain d"}
    assert effective.refused == (
        ("domain d", "cards", "rule from gateway does not allow exemption, so it cannot be redefined"),
    )


def test_levels_can_include_a_wildcard_domain():
    wildcard = Level("domain *.example.com", rules=(FALCON,))
    exact = Level("domain sales.example.com", exemptions=("falcon",))
    assert names(effective_rules([GATEWAY, wildcard])) == ["cards", "iban", "falcon"]
    assert names(effective_rules([GATEWAY, wildcard, exact])) == ["cards", "iban"]
