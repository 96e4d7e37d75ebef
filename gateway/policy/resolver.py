"""Pure inheritance: given the levels that apply to an address, most general
first, return every setting's effective value and the level it came from."""

from dataclasses import dataclass

from gateway.models import domain_candidates  # noqa: F401 - part of this module's interface

from .definitions import DEFINITIONS

FACTORY = "factory"


@dataclass(frozen=True)
class Level:
    """One level's own values: `name` says where they came from
    ("global", "domain example.com", "domain *.example.com", "user a@b")."""

    name: str
    values: dict


@dataclass(frozen=True)
class Effective:
    value: object
    origin: str


def resolve(levels, definitions=DEFINITIONS):
    """Return {key: Effective} for every defined setting. Later levels win,
    each setting on its own."""
    result = {key: Effective(d.default, FACTORY) for key, d in definitions.items()}
    for level in levels:
        for key, value in level.values.items():
            if key in definitions:
                result[key] = Effective(value, level.name)
    return result


# The levels that speak for one address (as opposed to global and factory).
RECIPIENT_LEVELS = ("domain ", "user ")


def set_for_recipient(own, key):
    """True when `key` was set at the recipient's own domain or user level."""
    return own[key].origin.startswith(RECIPIENT_LEVELS)


def recipient_wins(own, sender, key):
    """For an outgoing copy, settled by the sender's settings: the value of
    `key`, unless the recipient's own domain or user level sets it (a partner
    domain that wants PDF, or OAEP)."""
    if set_for_recipient(own, key) or key not in sender:
        return own[key].value
    return sender[key].value
