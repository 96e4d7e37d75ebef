"""Pure inheritance: given the levels that apply to an address, most general
first, return every setting's effective value and the level it came from."""

from dataclasses import dataclass

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


def domain_candidates(domain):
    """The domain-level names whose settings apply to `domain`, most general
    first. For mail.example.com: com, *.com, example.com, *.example.com,
    mail.example.com. So `*.example.com` inherits from `example.com`, and an
    exact name overrides its wildcard."""
    labels = domain.lower().strip(".").split(".")
    names = []
    for i in range(len(labels) - 1, 0, -1):
        parent = ".".join(labels[i:])
        names += [parent, "*." + parent]
    names.append(".".join(labels))
    # A wildcard's own name (*.example.com) already came up as a parent's
    # wildcard; keep each name once, at its most general place.
    return list(dict.fromkeys(names))


def resolve(levels, definitions=DEFINITIONS):
    """Return {key: Effective} for every defined setting. Later levels win,
    each setting on its own."""
    result = {key: Effective(d.default, FACTORY) for key, d in definitions.items()}
    for level in levels:
        for key, value in level.values.items():
            if key in definitions:
                result[key] = Effective(value, level.name)
    return result
