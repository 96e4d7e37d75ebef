"""What is scanned: raw message bytes in, text units with their location
out, plus an "unscannable" finding for each part that could not be read."""

from dataclasses import dataclass, field

from dlp.extract.limits import Budget, LimitReached, Limits, Unreadable
from dlp.findings import TextUnit, Unscannable

DEFAULT_HEADERS = ("subject",)


@dataclass
class Extraction:
    units: list = field(default_factory=list)
    unscannable: list = field(default_factory=list)


class _Context:
    def __init__(self, limits, headers):
        self.budget = Budget(limits)
        self.headers = headers
        self.result = Extraction()

    def add(self, location, text):
        if text and text.strip():
            self.result.units.append(TextUnit(location, text))

    def guard(self, location, func, *args):
        """Run one part's extraction; a part that cannot be read is recorded
        and the walk goes on. A spent limit stops the walk (LimitReached)."""
        try:
            func(*args)
        except Unreadable as exc:
            self.result.unscannable.append(Unscannable(location, str(exc)))
        except LimitReached as exc:
            exc.location = getattr(exc, "location", location)
            raise
        except RecursionError:
            self.result.unscannable.append(Unscannable(location, "nested too deeply"))


def extract(raw, limits=None, headers=DEFAULT_HEADERS):
    """Return an Extraction for the message `raw` (bytes)."""
    from dlp.extract.mime import parse, walk_message

    ctx = _Context(limits or Limits(), tuple(headers))
    try:
        ctx.guard("message", walk_message, ctx, parse(raw), "", 0)
    except LimitReached as exc:
        ctx.result.unscannable.append(Unscannable(exc.location, str(exc)))
    return ctx.result


__all__ = ["Extraction", "Limits", "TextUnit", "Unscannable", "extract"]
