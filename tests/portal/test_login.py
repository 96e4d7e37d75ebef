"""Logging in: internal users with a password (and TOTP once enrolled),
external recipients with a password and an SMS code; lockout, code limits,
session expiry and logging out everywhere."""

import logging

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal import accounts

from .conftest import code_in, last_sms, with_phone

pytestmark = pytest.mark.django_db

PASSWORD = "a long and good passphrase 7"


@pytest.fixture
def alice():
    return get_user_model().objects.create_user("alice", "alice@corp.example", PASSWORD)


@pytest.fixture
def bob(sms_dir):
    """An activated external recipient with a phone number."""
    with_phone("bob@example.org")
    account = accounts.invite("bob@example.org")
    accounts.choose_password(account, PASSWORD)
    accounts.finish_activation(account)
    return account.user


def totp_code(device):
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():06d}"


def logged_in(client):
    return client.get("/portal/").status_code == 200


def test_internal_user_logs_in_with_password(alice):
    client = Client()
    answer = client.post("/portal/login/", {"username": "alice", "password": PASSWORD})
    assert answer.status_code == 302
    assert logged_in(client)


def test_wrong_password_is_refused(alice):
    client = Client()
    answer = client.post("/portal/login/", {"username": "alice", "password": "nope"})
    assert answer.status_code == 200
    assert "Please enter a correct username and password" in answer.content.decode()
    assert not logged_in(client)


def test_pages_need_login():
    answer = Client().get("/portal/security/")
    assert answer.status_code == 302
    assert answer.url == "/portal/login/?next=%2Fportal%2Fsecurity%2F"


def test_next_to_another_site_is_ignored(alice):
    answer = Client().post("/portal/login/?next=https://evil.example/", {"username": "alice", "password": PASSWORD})
    assert answer.url == "/portal/"


def test_lockout_after_too_many_bad_passwords(settings, alice):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert client.post("/portal/login/", {"username": "alice", "password": "wrong"}).status_code == 200
    assert client.post("/portal/login/", {"username": "alice", "password": "wrong"}).status_code == 429
    # Locked out: the right password does not get in either.
    locked = client.post("/portal/login/", {"username": "alice", "password": PASSWORD})
    assert locked.status_code == 429
    assert "Too many attempts" in locked.content.decode()
    assert not logged_in(client)
    # Only this username from this address: another user still logs in.
    get_user_model().objects.create_user("carol", "carol@corp.example", PASSWORD)
    assert client.post("/portal/login/", {"username": "carol", "password": PASSWORD}).status_code == 302


def test_external_user_needs_the_sms_code(sms_dir, bob, caplog):
    caplog.set_level(logging.DEBUG)
    client = Client()
    answer = client.post("/portal/login/", {"username": "bob@example.org", "password": PASSWORD})
    assert answer.url == "/portal/login/code/"
    # Password alone: not logged in.
    assert not logged_in(client)
    code = code_in(last_sms(sms_dir)["body"])
    assert client.post("/portal/login/code/", {"code": code}).status_code == 302
    assert logged_in(client)
    for record in caplog.records:
        assert code not in record.getMessage()
        assert PASSWORD not in record.getMessage()


def test_a_code_works_once(sms_dir, bob):
    client = Client()
    client.post("/portal/login/", {"username": "bob@example.org", "password": PASSWORD})
    code = code_in(last_sms(sms_dir)["body"])
    assert client.post("/portal/login/code/", {"code": code}).status_code == 302
    client.post("/portal/logout/")
    other = Client()
    other.post("/portal/login/", {"username": "bob@example.org", "password": PASSWORD})
    # A new SMS went out; the old code is worthless.
    assert other.post("/portal/login/code/", {"code": code}).status_code == 200
    assert not logged_in(other)


def test_code_entry_is_limited(settings, sms_dir, bob):
    client = Client()
    client.post("/portal/login/", {"username": "bob@example.org", "password": PASSWORD})
    code = code_in(last_sms(sms_dir)["body"])
    wrong = "000000" if code != "000000" else "111111"
    statuses = [
        client.post("/portal/login/code/", {"code": wrong}).status_code for _ in range(settings.LOCKPOST_CODE_ATTEMPTS)
    ]
    assert statuses[-1] == 429
    assert client.post("/portal/login/code/", {"code": code}).status_code == 429
    assert not logged_in(client)


def test_totp_enrolment_then_login_asks_for_the_code(alice):
    client = Client()
    client.post("/portal/login/", {"username": "alice", "password": PASSWORD})
    page = client.get("/portal/security/totp/")
    body = page.content.decode()
    assert 'src="data:image/svg+xml' in body
    device = TOTPDevice.objects.get(user=alice, confirmed=False)
    shown = page.context["secret"].replace(" ", "")
    import base64

    assert base64.b32decode(shown + "=" * (-len(shown) % 8)) == device.bin_key
    assert client.post("/portal/security/totp/", {"code": totp_code(device)}).status_code == 302
    assert TOTPDevice.objects.get(user=alice).confirmed

    later = Client()
    assert later.post("/portal/login/", {"username": "alice", "password": PASSWORD}).url == "/portal/login/code/"
    assert not logged_in(later)
    device.refresh_from_db()
    # The code just used is not accepted twice; the next step's is.
    device.last_t = -1
    device.save()
    assert later.post("/portal/login/code/", {"code": totp_code(device)}).status_code == 302
    assert logged_in(later)


def test_log_out_everywhere_ends_other_sessions(alice):
    here, there = Client(), Client()
    for client in (here, there):
        client.post("/portal/login/", {"username": "alice", "password": PASSWORD})
        assert logged_in(client)
    assert here.post("/portal/logout/everywhere/").status_code == 302
    assert logged_in(here)
    assert not logged_in(there)


def test_logout_needs_post(alice):
    client = Client()
    client.post("/portal/login/", {"username": "alice", "password": PASSWORD})
    assert client.get("/portal/logout/").status_code == 405
    assert logged_in(client)
    client.post("/portal/logout/")
    assert not logged_in(client)


def test_session_expires(settings, alice):
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE
    assert settings.SESSION_COOKIE_AGE <= 8 * 3600
    client = Client()
    client.post("/portal/login/", {"username": "alice", "password": PASSWORD})
    session = client.session
    session.set_expiry(-1)  # as if the 8 hours were over
    session.save()
    assert not logged_in(client)
