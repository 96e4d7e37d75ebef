"""Passwords by SMS: through Twilio (a strict loopback fake), the file
backend, numbers in E.164, retries and rate limits."""

import io
import json

import pytest
from django.core.cache import cache

from portal.sms import (
    InvalidPhoneNumber,
    SmsPermanentError,
    SmsRateLimited,
    SmsTemporaryError,
    get_backend,
    send_password_sms,
    send_sms,
    to_e164,
)
from portal.sms.backends.twilio import SmsBackend as TwilioBackend
from tests.support.twilio_fake import ACCOUNT_SID, AUTH_TOKEN

FROM = "+15005550006"


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def twilio(settings, twilio_fake):
    settings.LOCKPOST_SMS_BACKEND = "portal.sms.backends.twilio.SmsBackend"
    settings.LOCKPOST_TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.LOCKPOST_TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.LOCKPOST_TWILIO_API_ROOT = twilio_fake.api_root
    settings.LOCKPOST_SMS_FROM = FROM
    settings.LOCKPOST_SMS_RETRY_BACKOFF = 0.01
    return twilio_fake


@pytest.mark.parametrize(
    ("given", "region", "expected"),
    [
        ("+31 6 1234 5678", None, "+31612345678"),
        ("0031 (0)6-12345678", None, "+31612345678"),
        ("06-12345678", "NL", "+31612345678"),
        ("+49 30 1234567", None, "+49301234567"),
        ("(202) 555-0143", "US", "+12025550143"),
    ],
)
def test_numbers_are_normalised_to_e164(given, region, expected):
    assert to_e164(given, region) == expected


@pytest.mark.parametrize("bad", ["", "hello", "+31 6 12", "06-12345678", "+999 123"])
def test_invalid_numbers_are_refused_clearly(bad):
    with pytest.raises(InvalidPhoneNumber, match="phone number"):
        to_e164(bad)


def test_password_sms_through_twilio_request_checked_field_by_field(twilio):
    sid = send_password_sms("+31 6 1234 5678", "Kx7mTq4pZr9w", language="nl", sender="Ann")
    [request] = twilio.requests
    assert request.method == "POST"
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert request.auth == (ACCOUNT_SID, AUTH_TOKEN)
    assert request.content_type.startswith("application/x-www-form-urlencoded")
    assert request.form == {
        "To": ["+31612345678"],
        "From": [FROM],
        "Body": ["Uw wachtwoord voor het beveiligde bericht van Ann: Kx7mTq4pZr9w"],
    }
    assert request.status == 201
    [message] = twilio.messages
    assert sid == message["sid"]
    assert sid.startswith("SM")
    assert message["status"] == "queued"


def test_messaging_service_instead_of_a_from_number(twilio):
    service = "MG" + "ab" * 16
    backend = get_backend(messaging_service_sid=service)
    send_sms("+4930 1234567", "hello", backend=backend)
    [request] = twilio.requests
    assert request.form == {"To": ["+49301234567"], "MessagingServiceSid": [service], "Body": ["hello"]}


@pytest.mark.parametrize("status", [500, 503, 429])
def test_temporary_failure_is_retried(twilio, status):
    twilio.fail_next(status)
    sid = send_sms("+31612345678", "code 1")
    assert [r.status for r in twilio.requests] == [status, 201]
    assert sid == twilio.messages[0]["sid"]


def test_temporary_failures_that_last_raise_after_the_retries(twilio, settings):
    settings.LOCKPOST_SMS_RETRIES = 2
    for _ in range(3):
        twilio.fail_next(500)
    with pytest.raises(SmsTemporaryError, match="after 3 tries: HTTP 500"):
        send_sms("+31612345678", "code 1")
    assert len(twilio.requests) == 3
    assert twilio.messages == []


def test_permanent_failure_is_raised_at_once_with_twilios_reason(twilio):
    twilio.fail_next(400, code=21610, message="Attempt to send to unsubscribed recipient")
    with pytest.raises(SmsPermanentError, match=r"error 21610: .*Attempt to send to unsubscribed recipient") as info:
        send_sms("+31612345678", "Your password: SECRETPW")
    assert info.value.status == 400
    assert info.value.code == 21610
    assert "SECRETPW" not in str(info.value)
    assert len(twilio.requests) == 1


def test_wrong_credentials_are_permanent(twilio):
    backend = TwilioBackend(auth_token="not-the-token", api_root=twilio.api_root, from_number=FROM)
    with pytest.raises(SmsPermanentError, match="HTTP 401, error 20003"):
        send_sms("+31612345678", "x", backend=backend)


def test_no_connection_is_retried_then_temporary(settings, twilio):
    twilio.stop()  # the port is closed now
    backend = get_backend(retries=1, backoff=0)
    with pytest.raises(SmsTemporaryError, match="after 2 tries: ConnectionError"):
        send_sms("+31612345678", "x", backend=backend)
    twilio.start()  # for the fixture's teardown


def test_rate_limit_per_recipient(twilio, settings):
    settings.LOCKPOST_SMS_RATE_LIMIT = 2
    send_sms("+31612345678", "1")
    send_sms("+31 6 12345678", "2")  # same number, other spelling
    with pytest.raises(SmsRateLimited):
        send_sms("0031612345678", "3")
    send_sms("+31612345679", "other recipient")
    assert [m["body"] for m in twilio.messages] == ["1", "2", "other recipient"]


def test_file_backend_writes_one_file_per_sms(settings, tmp_path):
    settings.LOCKPOST_SMS_BACKEND = "portal.sms.backends.filebased.SmsBackend"
    settings.LOCKPOST_SMS_FILE_PATH = str(tmp_path / "sms")
    first = send_password_sms("+49 30 1234567", "pw-one", language="de")
    send_password_sms("+31612345678", "pw-two")
    files = sorted((tmp_path / "sms").iterdir())
    assert len(files) == 2
    records = {json.loads(f.read_text())["id"]: json.loads(f.read_text()) for f in files}
    assert records[first] == {
        "id": first,
        "to": "+49301234567",
        "body": "Ihr Passwort für die geschützte Nachricht: pw-one",
    }
    assert {r["body"] for r in records.values()} == {
        "Ihr Passwort für die geschützte Nachricht: pw-one",
        "Your password for the protected message: pw-two",
    }


def test_console_backend_prints():
    stream = io.StringIO()
    backend = get_backend("portal.sms.backends.console.SmsBackend", stream=stream)
    send_sms("+31612345678", "hello there", backend=backend)
    assert "to +31612345678\nhello there\n" in stream.getvalue()


def test_invalid_number_never_reaches_the_provider(twilio):
    with pytest.raises(InvalidPhoneNumber):
        send_sms("12", "x")
    assert twilio.requests == []


def test_the_fake_refuses_what_twilio_refuses(twilio):
    backend = get_backend()
    with pytest.raises(SmsPermanentError, match="21602"):
        backend.send("+31612345678", "")  # Twilio wants a body
    with pytest.raises(SmsPermanentError, match="21211"):
        backend.send("0612345678", "x")  # and E.164
