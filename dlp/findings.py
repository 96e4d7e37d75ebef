"""What goes into a scan and what comes out of it, as plain values."""

from dataclasses import dataclass

from dlp.rules import most_severe


@dataclass(frozen=True)
class TextUnit:
    """A piece of text to scan and where it came from, e.g. "subject",
    "body text/plain", "attachment a.zip/b.zip/c.xlsx"."""

    location: str
    text: str


@dataclass(frozen=True)
class Unscannable:
    """A part that could not be read in full (corrupt, encrypted, over a
    limit). Mail with such a part cannot be said to be clean."""

    location: str
    reason: str


@dataclass(frozen=True)
class Evidence:
    masked: str  # never the full value
    location: str


@dataclass(frozen=True)
class Hit:
    rule: str
    action: str
    count: int  # distinct matching values found (scanning a rule stops early once it has plenty)
    evidence: tuple  # of Evidence, a sample


@dataclass(frozen=True)
class Verdict:
    hits: tuple = ()
    unscannable: tuple = ()
    unscannable_action: str = "quarantine"

    @property
    def action(self):
        """The most severe action called for, or None for clean mail."""
        actions = [hit.action for hit in self.hits]
        if self.unscannable:
            actions.append(self.unscannable_action)
        return most_severe(actions)

    @property
    def rules_hit(self):
        return [hit.rule for hit in self.hits]

    def as_dict(self):
        """For the trail and notifications: JSON-ready, evidence masked."""
        return {
            "action": self.action,
            "hits": [
                {
                    "rule": h.rule,
                    "action": h.action,
                    "count": h.count,
                    "evidence": [{"masked": e.masked, "location": e.location} for e in h.evidence],
                }
                for h in self.hits
            ],
            "unscannable": [{"location": u.location, "reason": u.reason} for u in self.unscannable],
        }
