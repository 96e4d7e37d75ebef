"""Reads the levels of the settings hierarchy from the database and hands
them to the pure resolver.

What it reads is kept in this process for as long as the policy epoch stays
where it was (see cache and epoch). Each lookup takes `epoch`: the pipeline
passes the one its message reads once (cache.epoch_for); without it, the
lookup reads the epoch itself."""

from types import MappingProxyType

from gateway.models import Domain, MailUser, Setting

from . import epoch as policy_epoch
from .cache import EpochCache
from .resolver import Level, resolve

# Addresses and domains whose levels and effective settings are kept: a few
# hundred bytes an address (those with no settings of their own share their
# domain's values), some KB for a domain or a user with settings.
_cache = EpochCache(limit=5000)


def domain_of(address):
    return address.rpartition("@")[2].strip().lower()


def matching_domains(domain):
    """The Domain rows that apply to `domain`, most general first (read now, not kept)."""
    return Domain.objects.lineage(domain)


def is_internal_address(address, epoch=None):
    lineage = _lineage(domain_of(address), _now(epoch))
    return bool(lineage) and lineage[-1][1]


def levels_for(address, epoch=None):
    """Global, then every matching domain, then the user, each with its own values."""
    address = address.strip().lower()
    levels = levels_for_domain(domain_of(address), epoch)
    user = _user_level(address)
    if user is not None:
        levels.append(user)
    return levels


def levels_for_domain(name, epoch=None):
    """Global, then every domain row that applies to `name` (its own row last)."""
    epoch = _now(epoch)
    levels = [_cache.get(epoch, "global", _global_level)]
    levels += [level for level, _internal in _lineage(name.strip().lower(), epoch)]
    return levels


def effective_settings(address, epoch=None):
    """{key: Effective} for `address`: a dict of its own, the caller may change it."""
    address = address.strip().lower()
    epoch = _now(epoch)
    return dict(_cache.get(epoch, ("address", address), lambda: _effective(address, epoch)))


def effective_domain_settings(name, epoch=None):
    """What an address at `name` with no settings of its own would get."""
    name = name.strip().lower()
    return dict(_domain_effective(name, _now(epoch)))


def _effective(address, epoch):
    user = _user_level(address)
    if user is None or not user.values:
        # Most addresses (partners, new users) have no settings of their
        # own: they share their domain's values instead of a copy each.
        return _domain_effective(domain_of(address), epoch)
    return resolve([*levels_for_domain(domain_of(address), epoch), user])


def _domain_effective(name, epoch):
    return _cache.get(epoch, ("domain settings", name), lambda: resolve(levels_for_domain(name, epoch)))


def _now(epoch):
    return policy_epoch.current() if epoch is None else epoch


def _global_level():
    return Level("global", _values(Setting.objects.filter(domain=None, user=None)))


def _lineage(name, epoch):
    """((Level, internal), ...) for the domain rows that apply to `name`."""
    return _cache.get(epoch, ("domain", name), lambda: tuple(_domain_level(row) for row in matching_domains(name)))


def _user_level(address):
    user = MailUser.objects.filter(email=address).first()
    return None if user is None else Level(f"user {user.email}", _values(user.settings.all()))


def _domain_level(domain):
    values = {"locality": "internal" if domain.internal else "external"}
    values.update(_values(domain.settings.all()))
    return Level(f"domain {domain.name}", MappingProxyType(values)), domain.internal


def _values(queryset):
    # Read-only: levels kept in the cache are shared by every caller.
    return MappingProxyType({s.key: s.value for s in queryset})
