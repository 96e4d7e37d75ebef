"""Changing the settings hierarchy: set or unset one setting at one level,
validated against its definition. The admin, the API and the management
commands all go through here, so a value is checked the same way wherever
it is typed."""

import json
import re
from dataclasses import dataclass

from django.db import transaction

from gateway.models import Domain, MailUser, Setting

from . import store
from .definitions import DEFINITIONS
from .resolver import Level, resolve


class SettingError(ValueError):
    """An unknown key, a value its definition refuses, or a level that does not exist."""


# A host name (labels of letters, digits and hyphens), optionally behind "*."
# for "every subdomain of".
DOMAIN_NAME = re.compile(r"(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


def clean_domain_name(name):
    """The name in its stored form (lower case, no trailing dot), or SettingError."""
    cleaned = (name or "").strip().lower().rstrip(".")
    if len(cleaned) > 253 or not DOMAIN_NAME.fullmatch(cleaned):
        raise SettingError(f"{name!r} is not a domain name (example.com, or *.example.com for its subdomains)")
    return cleaned


def clean_address(address):
    cleaned = (address or "").strip().lower()
    local, at, domain = cleaned.rpartition("@")
    if not at or not local or len(cleaned) > 320:
        raise SettingError(f"{address!r} is not an email address")
    clean_domain_name(domain)
    return cleaned


@dataclass(frozen=True)
class Scope:
    """One level of the hierarchy: global (neither set), a domain, or a user."""

    domain: Domain | None = None
    user: MailUser | None = None

    @property
    def label(self):
        if self.user is not None:
            return f"user {self.user.email}"
        if self.domain is not None:
            return f"domain {self.domain.name}"
        return "global"

    def rows(self):
        return Setting.objects.filter(domain=self.domain, user=self.user)


GLOBAL = Scope()


def domain_scope(name):
    """The scope of an existing domain; settings need the domain added first."""
    cleaned = clean_domain_name(name)
    domain = Domain.objects.filter(name=cleaned).first()
    if domain is None:
        raise SettingError(f"no domain {cleaned!r}: add it first")
    return Scope(domain=domain)


def user_scope(address, create=True):
    """The scope of a user. Setting something for an address makes it a user,
    as seeing it in mail does."""
    cleaned = clean_address(address)
    if create:
        user, _ = MailUser.objects.get_or_create(email=cleaned)
    else:
        user = MailUser.objects.filter(email=cleaned).first()
        if user is None:
            raise SettingError(f"no user {cleaned!r}")
    return Scope(user=user)


def clean_key(key):
    if key not in DEFINITIONS:
        raise SettingError(f"unknown setting {key!r}; known settings: {', '.join(sorted(DEFINITIONS))}")
    return key


def clean_value(key, value):
    """The value in its proper type for `key`, or SettingError."""
    try:
        return DEFINITIONS[clean_key(key)].validate(value)
    except ValueError as error:
        raise SettingError(str(error)) from None


def own_settings(scope):
    """{key: value} set at exactly this level."""
    return {row.key: row.value for row in scope.rows().order_by("key")}


def get_setting(scope, key):
    """The value set at this level, or SettingError when it inherits."""
    clean_key(key)
    row = scope.rows().filter(key=key).first()
    if row is None:
        raise SettingError(f"{key} is not set at {scope.label}; it inherits")
    return row.value


def set_setting(scope, key, value):
    """Set `key` at this level after validating it. Returns the stored value."""
    value = clean_value(key, value)
    with transaction.atomic():
        row = scope.rows().select_for_update().filter(key=key).first()
        if row is None:
            Setting.objects.create(key=key, value=value, domain=scope.domain, user=scope.user)
        elif row.value != value:
            row.value = value
            row.save(update_fields=["value", "updated_at"])
    return value


def unset_setting(scope, key):
    """Remove `key` from this level so it inherits again. True if it was set."""
    clean_key(key)
    deleted, _ = scope.rows().filter(key=key).delete()
    return deleted > 0


def effective_for(scope):
    """{key: Effective} for everything at and above this level."""
    if scope.user is not None:
        return store.effective_settings(scope.user.email)
    if scope.domain is not None:
        return store.effective_domain_settings(scope.domain.name)
    return resolve([Level("global", own_settings(GLOBAL))])


def effective_for_name(name):
    """Effective settings of an address (has an @) or of a domain name, whether
    or not a row exists for it: what mail to or from it would get."""
    if "@" in name:
        return store.effective_settings(clean_address(name))
    return store.effective_domain_settings(clean_domain_name(name))


HIDDEN = "(set, hidden)"


def shown_value(key, value):
    """A value as it may be shown or printed: secrets only say they are set."""
    definition = DEFINITIONS.get(key)
    if definition is not None and definition.secret and value not in ("", None):
        return HIDDEN
    return value


def format_value(value):
    """A value as an operator types it: true/false, plain text, JSON otherwise."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def describe_definitions():
    """Every setting, its values and factory default, as plain text for --help."""
    lines = []
    for key, definition in sorted(DEFINITIONS.items()):
        if definition.choices:
            takes = " | ".join(definition.choices)
        elif definition.kind is bool:
            takes = "true | false"
        elif definition.kind is int:
            takes = "a whole number"
        else:
            takes = "text"
        lines.append(f"  {key}  ({takes}; factory default: {format_value(definition.default) or '(empty)'})")
        lines.append(f"      {definition.help}")
    return "\n".join(lines)
