"""The operator's shell commands: domains, settings, apitoken."""

import io
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token

from gateway.models import Domain, MailUser, Setting
from gateway.policy.definitions import DEFINITIONS


def run(*args):
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_domains_add_list_remove():
    assert "added internal domain example.com" in run("domains", "add", "Example.COM", "--internal")
    assert "added external domain *.partner.org" in run("domains", "add", "*.partner.org")

    assert run("domains", "list").splitlines() == ["*.partner.org\texternal", "example.com\tinternal"]

    assert "removed domain *.partner.org" in run("domains", "remove", "*.partner.org")
    assert list(Domain.objects.values_list("name", flat=True)) == ["example.com"]


@pytest.mark.django_db
def test_domains_add_again_changes_the_internal_flag():
    run("domains", "add", "example.com", "--internal")
    assert "updated external domain example.com" in run("domains", "add", "example.com")
    assert Domain.objects.get(name="example.com").internal is False


@pytest.mark.django_db
def test_domains_refuses_bad_names_and_unknown_removals():
    with pytest.raises(CommandError, match="not a domain name"):
        run("domains", "add", "not a domain")
    with pytest.raises(CommandError, match="no domain"):
        run("domains", "remove", "nowhere.example")


@pytest.mark.django_db
def test_settings_set_get_unset_at_each_level():
    run("domains", "add", "example.com", "--internal")

    assert "encryption_mode = mandatory at global" in run("settings", "set", "encryption_mode", "mandatory", "--global")
    run("settings", "set", "pdf_enabled", "yes", "--domain", "example.com")
    run("settings", "set", "phone_number", "+31612345678", "--address", "Alice@example.com")

    assert run("settings", "get", "encryption_mode", "--global").strip() == "mandatory"
    assert run("settings", "get", "pdf_enabled", "--domain", "example.com").strip() == "true"
    assert run("settings", "get", "phone_number", "--address", "alice@example.com").strip() == "+31612345678"
    assert MailUser.objects.filter(email="alice@example.com").exists()
    assert run("settings", "list", "--domain", "example.com").splitlines() == ["pdf_enabled = true"]

    assert "unset at domain example.com" in run("settings", "unset", "pdf_enabled", "--domain", "example.com")
    with pytest.raises(CommandError, match="not set at domain example"):
        run("settings", "get", "pdf_enabled", "--domain", "example.com")


@pytest.mark.django_db
def test_settings_show_prints_every_effective_value_with_its_origin():
    run("domains", "add", "example.com", "--internal")
    run("settings", "set", "encryption_mode", "mandatory", "--global")
    run("settings", "set", "signing_mode", "never", "--domain", "example.com")
    run("settings", "set", "sender_notification", "true", "--address", "bob@example.com")

    lines = {line.split()[0]: line.split()[1:] for line in run("settings", "show", "bob@example.com").splitlines()}

    assert set(lines) == set(DEFINITIONS)
    assert lines["encryption_mode"] == ["mandatory", "global"]
    assert lines["signing_mode"] == ["never", "domain", "example.com"]
    assert lines["sender_notification"] == ["true", "user", "bob@example.com"]
    assert lines["encryption_algorithm"] == ["aes256-cbc", "factory"]
    assert lines["locality"] == ["internal", "domain", "example.com"]


@pytest.mark.django_db
def test_settings_refuses_bad_values_unknown_keys_and_missing_domains():
    with pytest.raises(CommandError, match="takes one of"):
        run("settings", "set", "encryption_mode", "sometimes", "--global")
    with pytest.raises(CommandError, match="unknown setting"):
        run("settings", "set", "no_such_setting", "x", "--global")
    with pytest.raises(CommandError, match="add it first"):
        run("settings", "set", "pdf_enabled", "true", "--domain", "nowhere.example")
    # Reading a user that does not exist does not create one.
    with pytest.raises(CommandError, match="no user"):
        run("settings", "get", "pdf_enabled", "--address", "ghost@example.com")
    assert not Setting.objects.exists()
    assert not MailUser.objects.exists()


@pytest.mark.parametrize("argv", [["settings", "--help"], ["settings", "set", "--help"]])
def test_settings_help_lists_every_setting(argv):
    result = subprocess.run(
        [sys.executable, str(django_settings.BASE_DIR / "manage.py"), *argv],
        capture_output=True,
        text=True,
        check=True,
        cwd=django_settings.BASE_DIR,
    )
    for key, definition in DEFINITIONS.items():
        assert key in result.stdout
        for choice in definition.choices:
            assert choice in result.stdout


@pytest.mark.django_db
def test_apitoken_prints_the_same_token_for_a_staff_user():
    user = get_user_model().objects.create_user("ops", password="x", is_staff=True)
    first = run("apitoken", "ops").strip()
    assert first == Token.objects.get(user=user).key
    assert run("apitoken", "ops").strip() == first
    assert run("apitoken", "ops", "--rotate").strip() != first


@pytest.mark.django_db
def test_apitoken_refuses_users_who_are_not_staff():
    get_user_model().objects.create_user("plain", password="x")
    with pytest.raises(CommandError, match="not an active staff user"):
        run("apitoken", "plain")
    with pytest.raises(CommandError, match="no user"):
        run("apitoken", "nobody")
    assert not Token.objects.exists()
