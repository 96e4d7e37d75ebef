"""Rules and actions as plain values.

A rule is a frozen dataclass so that it can be built from a model row, a
settings dict or a test, and hashed to cache its compiled form. Nothing here
touches the database."""

from dataclasses import dataclass, field, replace

# Least to most severe. The verdict carries the most severe action of all
# rules hit (and of the unscannable finding, if any).
ACTIONS = ("warn", "force_encrypt", "quarantine", "block")
KINDS = ("keywords", "regex", "detector")


class RuleError(ValueError):
    """A rule cannot be used as written; the message says why, for the admin."""

    def __init__(self, rule, message):
        super().__init__(f"rule {rule!r}: {message}")
        self.rule = rule
        self.reason = message


def severity(action):
    """The rank of an action; unknown actions are refused, not guessed."""
    try:
        return ACTIONS.index(action)
    except ValueError:
        raise ValueError(f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}") from None


def most_severe(actions):
    """The most severe of `actions`, or None when there are none."""
    actions = [a for a in actions if a]
    return max(actions, key=severity) if actions else None


@dataclass(frozen=True)
class Rule:
    """One DLP rule.

    kind "keywords": `keywords` are whole words or phrases, matched after
    NFKC normalisation and case folding. kind "regex": `pattern` is an RE2
    expression. kind "detector": `detector` names a validated detector
    (see dlp.detectors.DETECTORS).

    A rule is hit when at least `threshold` distinct values match. With
    `hotwords`, a match counts only when one of them appears within
    `hotword_distance` characters of it. Values in `exceptions` (compared
    after normalisation) or fully matching one of `exception_patterns`
    never count."""

    name: str
    kind: str
    keywords: tuple = ()
    pattern: str = ""
    detector: str = ""
    threshold: int = 1
    hotwords: tuple = ()
    hotword_distance: int = 60
    exceptions: tuple = ()
    exception_patterns: tuple = ()
    action: str = "quarantine"
    exemptible: bool = True
    description: str = field(default="", compare=False)

    def __post_init__(self):
        # Lists from JSON or a form become tuples, so rules stay hashable.
        for name in ("keywords", "hotwords", "exceptions", "exception_patterns"):
            value = getattr(self, name)
            if isinstance(value, str):
                value = (value,)
            object.__setattr__(self, name, tuple(value))
        if not self.name:
            raise RuleError(self.name, "a rule needs a name")
        if self.kind not in KINDS:
            raise RuleError(self.name, f"unknown kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        if self.action not in ACTIONS:
            raise RuleError(self.name, f"unknown action {self.action!r}; expected one of {', '.join(ACTIONS)}")
        if not isinstance(self.threshold, int) or self.threshold < 1:
            raise RuleError(self.name, "threshold must be a whole number of at least 1")
        if self.hotword_distance < 0:
            raise RuleError(self.name, "hotword distance cannot be negative")
        if self.kind == "keywords" and not any(k.strip() for k in self.keywords):
            raise RuleError(self.name, "a keyword rule needs at least one keyword")
        if self.kind == "regex" and not self.pattern:
            raise RuleError(self.name, "a regular expression rule needs a pattern")
        if self.kind == "detector" and not self.detector:
            raise RuleError(self.name, "a detector rule needs a detector name")

    @classmethod
    def from_dict(cls, data):
        """Build a rule from plain data (a model's values, JSON), ignoring
        keys that are not rule fields."""
        names = cls.__dataclass_fields__.keys()
        return cls(**{k: v for k, v in data.items() if k in names})

    def with_action(self, action):
        return replace(self, action=action)
