"""Reads the levels of the settings hierarchy from the database and hands
them to the pure resolver."""

from gateway.models import Domain, MailUser, Setting

from .resolver import Level, resolve


def domain_of(address):
    return address.rpartition("@")[2].strip().lower()


def matching_domains(domain):
    """The Domain rows that apply to `domain`, most general first."""
    return Domain.objects.lineage(domain)


def is_internal_address(address):
    domains = matching_domains(domain_of(address))
    return bool(domains) and domains[-1].internal


def levels_for(address):
    """Global, then every matching domain, then the user, each with its own values."""
    address = address.strip().lower()
    levels = levels_for_domain(domain_of(address))
    user = MailUser.objects.filter(email=address).first()
    if user is not None:
        levels.append(Level(f"user {user.email}", _values(user.settings.all())))
    return levels


def levels_for_domain(name):
    """Global, then every domain row that applies to `name` (its own row last)."""
    levels = [Level("global", _values(Setting.objects.filter(domain=None, user=None)))]
    for domain in matching_domains(name.strip().lower()):
        values = {"locality": "internal" if domain.internal else "external"}
        values.update(_values(domain.settings.all()))
        levels.append(Level(f"domain {domain.name}", values))
    return levels


def effective_settings(address):
    return resolve(levels_for(address))


def effective_domain_settings(name):
    """What an address at `name` with no settings of its own would get."""
    return resolve(levels_for_domain(name))


def _values(queryset):
    return {s.key: s.value for s in queryset}
