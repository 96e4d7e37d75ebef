"""External recipients: invited by Lockpost, activated through a signed,
expiring, single-use link, with a password and an SMS code."""

import logging

import pytest
from django.core import signing
from django.test import Client

from portal import accounts
from portal.models import ExternalAccount

from .conftest import code_in, last_sms, link_in, mails_to, sms_messages, with_phone

pytestmark = pytest.mark.django_db

ADDRESS = "bob@example.org"
PASSWORD = "correct horse battery 42"


def invite_with_phone():
    with_phone(ADDRESS)
    return accounts.invite(ADDRESS, reason="certificate pickup")


def activation_path(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        invite_with_phone()
    return link_in(mails_to(ADDRESS)[-1], "/portal/activate/")


def test_invite_creates_an_inactive_account_and_mails_the_link(settings, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        account = invite_with_phone()
    assert account.user.username == ADDRESS
    assert not account.user.is_active
    assert not account.user.has_usable_password()
    (mail,) = mails_to(ADDRESS)
    assert settings.LOCKPOST_POSTMASTER in mail["From"]
    assert "/portal/activate/" in mail.get_body(("plain",)).get_content()


def test_invite_again_supersedes_the_first_link(django_capture_on_commit_callbacks):
    first = activation_path(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        accounts.invite(ADDRESS)
    assert ExternalAccount.objects.count() == 1
    assert Client().get(first).status_code == 404


def test_activation_with_sms_code(sms_dir, django_capture_on_commit_callbacks, caplog):
    caplog.set_level(logging.DEBUG)
    path = activation_path(django_capture_on_commit_callbacks)
    client = Client()
    page = client.get(path)
    assert page.status_code == 200
    assert ADDRESS in page.content.decode()

    answer = client.post(path, {"new_password1": PASSWORD, "new_password2": PASSWORD})
    assert answer.status_code == 302
    sms = last_sms(sms_dir)
    assert sms["to"] == "+31612345678"
    code = code_in(sms["body"])

    # Not active before the code is proven: the password alone does not log in.
    assert not ExternalAccount.objects.get().user.is_active
    answer = client.post(answer.url, {"code": code})
    assert answer.status_code == 302
    assert answer.url == "/portal/"
    assert "You are logged in as bob@example.org" in client.get("/portal/").content.decode()

    # The link is used up.
    assert Client().get(path).status_code == 404
    for record in caplog.records:
        line = record.getMessage()
        assert PASSWORD not in line
        assert code not in line


def test_weak_password_refused(sms_dir, django_capture_on_commit_callbacks):
    path = activation_path(django_capture_on_commit_callbacks)
    answer = Client().post(path, {"new_password1": "12345678", "new_password2": "12345678"})
    assert answer.status_code == 200
    assert "This password is too common" in answer.content.decode()
    assert sms_messages(sms_dir) == []


def test_wrong_codes_are_limited(settings, sms_dir, django_capture_on_commit_callbacks):
    path = activation_path(django_capture_on_commit_callbacks)
    client = Client()
    code_page = client.post(path, {"new_password1": PASSWORD, "new_password2": PASSWORD}).url
    code = code_in(last_sms(sms_dir)["body"])
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(settings.LOCKPOST_CODE_ATTEMPTS - 1):
        assert client.post(code_page, {"code": wrong}).status_code == 200
    assert client.post(code_page, {"code": wrong}).status_code == 429
    # Even the right code is refused now.
    refused = client.post(code_page, {"code": code})
    assert refused.status_code == 429
    assert not ExternalAccount.objects.get().activated_at


def test_sms_code_is_used_up_after_three_wrong_tries(sms_dir, django_capture_on_commit_callbacks):
    path = activation_path(django_capture_on_commit_callbacks)
    client = Client()
    code_page = client.post(path, {"new_password1": PASSWORD, "new_password2": PASSWORD}).url
    code = code_in(last_sms(sms_dir)["body"])
    device = ExternalAccount.objects.get().user.smsdevice_set.get()
    assert code not in device.code_hash  # only its HMAC is stored
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(3):
        device.refresh_from_db()
        device.throttling_failure_count = 0  # look past the back-off to test the tries
        device.save()
        client.post(code_page, {"code": wrong})
    device.refresh_from_db()
    device.throttling_failure_count = 0
    device.save()
    assert client.post(code_page, {"code": code}).status_code == 200
    assert not ExternalAccount.objects.get().activated_at


def test_code_page_needs_the_session_that_chose_the_password(sms_dir, django_capture_on_commit_callbacks):
    path = activation_path(django_capture_on_commit_callbacks)
    Client().post(path, {"new_password1": PASSWORD, "new_password2": PASSWORD})
    code = code_in(last_sms(sms_dir)["body"])
    other = Client()
    answer = other.post(path + "code/", {"code": code})
    assert answer.status_code == 302
    assert answer.url == path
    assert not ExternalAccount.objects.get().activated_at


def test_tampered_link_refused(django_capture_on_commit_callbacks):
    path = activation_path(django_capture_on_commit_callbacks)
    token = path.split("/")[3]
    data = signing.loads(token, salt=accounts.SALT)
    forged = signing.dumps({**data, "a": data["a"] + 1}, salt="some other salt")
    answer = Client().get(f"/portal/activate/{forged}/")
    assert answer.status_code == 404
    assert "This link does not work" in answer.content.decode()
    flipped = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert Client().get(f"/portal/activate/{flipped}/").status_code == 404


def test_expired_link_refused(settings, django_capture_on_commit_callbacks):
    path = activation_path(django_capture_on_commit_callbacks)
    settings.LOCKPOST_ACTIVATION_MAX_AGE = -1
    assert Client().get(path).status_code == 404


def test_inactive_account_cannot_log_in(django_capture_on_commit_callbacks):
    account = invite_with_phone()
    account.user.set_password(PASSWORD)
    account.user.save()
    client = Client()
    answer = client.post("/portal/login/", {"username": ADDRESS, "password": PASSWORD})
    assert answer.status_code == 200
    assert "This account is inactive" in answer.content.decode() or "Please enter a correct" in answer.content.decode()
    assert "_auth_user_id" not in client.session
