"""The settings hierarchy: factory ← global ← domain (wildcards too) ← user,
each setting inheriting on its own, with the origin of every value."""

import pytest

from gateway.models import Domain, MailUser, Setting
from gateway.policy import service, store
from gateway.policy.definitions import DEFINITIONS
from gateway.policy.resolver import FACTORY, Level, domain_candidates, resolve


def test_domain_candidates_go_from_general_to_exact():
    assert domain_candidates("sub.example.com") == [
        "com",
        "*.com",
        "example.com",
        "*.example.com",
        "sub.example.com",
    ]


def test_wildcard_name_is_listed_once_after_the_domain_it_inherits_from():
    assert domain_candidates("*.example.com") == ["com", "*.com", "example.com", "*.example.com"]


def test_pure_resolver_lets_each_setting_inherit_on_its_own():
    levels = [
        Level("global", {"encryption_mode": "allow"}),
        Level("domain example.com", {"signing_mode": "never"}),
        Level("user a@example.com", {"pdf_enabled": True}),
    ]
    result = resolve(levels)
    assert (result["encryption_mode"].value, result["encryption_mode"].origin) == ("allow", "global")
    assert (result["signing_mode"].value, result["signing_mode"].origin) == ("never", "domain example.com")
    assert (result["pdf_enabled"].value, result["pdf_enabled"].origin) == (True, "user a@example.com")
    assert result["dlp_enabled"].origin == FACTORY
    assert set(result) == set(DEFINITIONS)


@pytest.mark.django_db
def test_four_levels_each_setting_from_its_own_nearest_level():
    domain = Domain.objects.create(name="example.com", internal=True)
    user = MailUser.objects.create(email="alice@example.com")
    service.set_setting(service.GLOBAL, "encryption_mode", "mandatory")
    service.set_setting(service.GLOBAL, "signing_mode", "never")
    service.set_setting(service.Scope(domain=domain), "signing_mode", "if_possible")
    service.set_setting(service.Scope(domain=domain), "pdf_enabled", "true")
    service.set_setting(service.Scope(user=user), "pdf_enabled", False)

    effective = store.effective_settings("Alice@Example.com")

    assert (effective["encryption_algorithm"].value, effective["encryption_algorithm"].origin) == (
        "aes256-cbc",
        "factory",
    )
    assert (effective["encryption_mode"].value, effective["encryption_mode"].origin) == ("mandatory", "global")
    assert (effective["signing_mode"].value, effective["signing_mode"].origin) == (
        "if_possible",
        "domain example.com",
    )
    assert (effective["pdf_enabled"].value, effective["pdf_enabled"].origin) == (False, "user alice@example.com")


@pytest.mark.django_db
def test_unsetting_a_user_value_falls_back_to_the_domain():
    domain = Domain.objects.create(name="example.com")
    scope = service.user_scope("bob@example.com")
    service.set_setting(service.Scope(domain=domain), "dlp_enabled", False)
    service.set_setting(scope, "dlp_enabled", True)
    assert store.effective_settings("bob@example.com")["dlp_enabled"].origin == "user bob@example.com"

    assert service.unset_setting(scope, "dlp_enabled") is True
    effective = store.effective_settings("bob@example.com")["dlp_enabled"]
    assert (effective.value, effective.origin) == (False, "domain example.com")
    assert service.unset_setting(scope, "dlp_enabled") is False


@pytest.mark.django_db
def test_wildcard_inherits_from_its_base_domain_and_subdomain_from_wildcard():
    base = Domain.objects.create(name="example.com")
    wildcard = Domain.objects.create(name="*.example.com")
    service.set_setting(service.Scope(domain=base), "encryption_mode", "mandatory")
    service.set_setting(service.Scope(domain=base), "pdf_enabled", True)
    service.set_setting(service.Scope(domain=wildcard), "pdf_enabled", False)

    at_wildcard = store.effective_domain_settings("*.example.com")
    assert at_wildcard["encryption_mode"].origin == "domain example.com"
    assert at_wildcard["pdf_enabled"].origin == "domain *.example.com"

    at_sub = store.effective_settings("carol@sub.example.com")
    assert (at_sub["encryption_mode"].value, at_sub["encryption_mode"].origin) == ("mandatory", "domain example.com")
    assert (at_sub["pdf_enabled"].value, at_sub["pdf_enabled"].origin) == (False, "domain *.example.com")

    # The base domain itself is not a subdomain: the wildcard does not apply.
    at_base = store.effective_settings("dave@example.com")
    assert (at_base["pdf_enabled"].value, at_base["pdf_enabled"].origin) == (True, "domain example.com")


@pytest.mark.django_db
def test_exact_domain_beats_its_wildcard():
    wildcard = Domain.objects.create(name="*.example.com")
    exact = Domain.objects.create(name="mail.example.com")
    service.set_setting(service.Scope(domain=wildcard), "signing_mode", "never")
    service.set_setting(service.Scope(domain=exact), "signing_mode", "always")

    assert store.effective_settings("x@mail.example.com")["signing_mode"].origin == "domain mail.example.com"
    assert store.effective_settings("x@other.example.com")["signing_mode"].origin == "domain *.example.com"


@pytest.mark.django_db
def test_locality_follows_the_domains_internal_flag_unless_set():
    Domain.objects.create(name="example.com", internal=True)
    wildcard = Domain.objects.create(name="*.example.com", internal=False)

    assert store.effective_settings("a@example.com")["locality"].value == "internal"
    assert store.effective_settings("a@sub.example.com")["locality"].value == "external"
    service.set_setting(service.Scope(domain=wildcard), "locality", "internal")
    assert store.effective_settings("a@sub.example.com")["locality"].value == "internal"
    assert store.effective_settings("a@elsewhere.org")["locality"] == store.effective_settings("b@x.net")["locality"]
    assert store.effective_settings("a@elsewhere.org")["locality"].origin == "factory"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("encryption_mode", "sometimes", "takes one of never, allow, if_possible, mandatory"),
        ("pdf_enabled", "maybe", "takes true or false"),
        ("phone_number", "0612345678", "E.164"),
        ("no_such_setting", "x", "unknown setting"),
    ],
)
def test_invalid_values_are_refused_and_nothing_is_stored(key, value, message):
    with pytest.raises(service.SettingError, match=message):
        service.set_setting(service.GLOBAL, key, value)
    assert not Setting.objects.exists()


@pytest.mark.django_db
def test_values_are_stored_in_their_proper_type():
    assert service.set_setting(service.GLOBAL, "sender_notification", "yes") is True
    assert service.set_setting(service.GLOBAL, "phone_number", "+31612345678") == "+31612345678"
    assert service.own_settings(service.GLOBAL) == {"phone_number": "+31612345678", "sender_notification": True}


@pytest.mark.django_db
def test_setting_twice_changes_the_one_row():
    service.set_setting(service.GLOBAL, "encryption_mode", "allow")
    service.set_setting(service.GLOBAL, "encryption_mode", "never")
    assert list(Setting.objects.values_list("key", "value")) == [("encryption_mode", "never")]


@pytest.mark.django_db
def test_domain_level_needs_the_domain_to_exist():
    with pytest.raises(service.SettingError, match="add it first"):
        service.domain_scope("nowhere.example")


@pytest.mark.parametrize("name", ["", "exa mple.com", "*.", "a..b", "-x.com", "*.*.example.com", "ex@mple.com"])
def test_bad_domain_names_are_refused(name):
    with pytest.raises(service.SettingError):
        service.clean_domain_name(name)


def test_domain_names_are_stored_lower_case_without_trailing_dot():
    assert service.clean_domain_name(" Example.COM. ") == "example.com"
    assert service.clean_domain_name("*.Example.com") == "*.example.com"


@pytest.mark.django_db
def test_effective_for_name_takes_an_address_or_a_domain():
    Domain.objects.create(name="example.com", internal=True)
    assert service.effective_for_name("x@example.com")["locality"].origin == "domain example.com"
    assert service.effective_for_name("example.com")["locality"].value == "internal"
    with pytest.raises(service.SettingError):
        service.effective_for_name("not a domain")


@pytest.mark.django_db
def test_a_secret_setting_is_used_but_never_shown(client, django_user_model):
    from io import StringIO

    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from gateway.policy import service

    domain = Domain.objects.create(name="partner.example")
    service.set_setting(service.Scope(domain=domain), "pdf_static_password", "Sesame-4711")
    assert service.effective_for(service.Scope(domain=domain))["pdf_static_password"].value == "Sesame-4711"
    out = StringIO()
    call_command("settings", "show", "someone@partner.example", stdout=out)
    call_command("settings", "get", "pdf_static_password", "--domain", "partner.example", stdout=out)
    assert "Sesame-4711" not in out.getvalue()
    assert service.HIDDEN in out.getvalue()
    staff = django_user_model.objects.create_user("ops", password="unused-pw-9911", is_staff=True, is_superuser=True)
    token = Token.objects.create(user=staff)
    auth = {"HTTP_AUTHORIZATION": f"Token {token.key}"}
    for url in ("/api/effective/partner.example/", "/api/domains/partner.example/settings/"):
        body = client.get(url, **auth).content.decode()
        assert "Sesame-4711" not in body
        assert service.HIDDEN in body
    client.force_login(staff)
    # The table of effective values hides it (the edit form is for those who set it).
    assert service.HIDDEN in client.get(f"/admin/gateway/domain/{domain.pk}/change/").content.decode()
