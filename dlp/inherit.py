"""Rule sets inherited across levels: gateway, then domain, then user (any
list of levels, most general first, so wildcard domains can sit between).

Each level may add rules and exempt itself from rules it inherits, but only
from rules that allow it (`Rule.exemptible`). Redefining an inherited rule
under the same name counts as exempting it and adding a new one. What a
level asked for and did not get is reported, not silently dropped, so the
admin can show it."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Level:
    name: str  # e.g. "gateway", "domain example.com", "user alice@example.com"
    rules: tuple = ()
    exemptions: tuple = ()  # names of inherited rules this level opts out of


@dataclass(frozen=True)
class EffectiveRules:
    rules: tuple  # Rule, in the order they were added
    origin: dict = field(default_factory=dict)  # rule name -> level that added it
    exempted: dict = field(default_factory=dict)  # rule name -> level that exempted it
    refused: tuple = ()  # (level, rule name, reason)


def effective_rules(levels):
    """Fold `levels` (most general first) into the rules that apply."""
    rules, origin, exempted, refused = {}, {}, {}, []

    def exempt(level, name, why):
        rule = rules.get(name)
        if rule is None:
            refused.append((level.name, name, "no such inherited rule"))
            return False
        if not rule.exemptible:
            refused.append((level.name, name, f"rule from {origin[name]} does not allow exemption{why}"))
            return False
        del rules[name]
        exempted[name] = level.name
        del origin[name]
        return True

    for level in levels:
        for name in level.exemptions:
            exempt(level, name, "")
        added = set()
        for rule in level.rules:
            if rule.name in added:
                refused.append((level.name, rule.name, "defined twice at this level; the first is used"))
                continue
            if rule.name in rules and not exempt(level, rule.name, ", so it cannot be redefined"):
                continue
            added.add(rule.name)
            rules[rule.name] = rule
            origin[rule.name] = level.name
            exempted.pop(rule.name, None)
    return EffectiveRules(tuple(rules.values()), origin, exempted, tuple(refused))
