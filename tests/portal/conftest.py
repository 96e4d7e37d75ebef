import email
import email.policy
import json
import re

import pytest
from django.core.cache import cache

from gateway.models import MailUser, Message, Setting
from gateway.spool_raw import load_raw

PHONE = "+31612345678"


@pytest.fixture(autouse=True)
def _fresh_limits():
    # Code-entry and SMS limits live in the cache; each test starts clean.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def sms_dir(settings, tmp_path):
    """SMS go to files in a folder of this test: read them with sms_bodies()."""
    settings.LOCKPOST_SMS_BACKEND = "portal.sms.backends.filebased.SmsBackend"
    settings.LOCKPOST_SMS_FILE_PATH = tmp_path / "sms"
    return tmp_path / "sms"


def sms_messages(folder):
    files = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime_ns) if folder.exists() else []
    return [json.loads(p.read_text()) for p in files]


def last_sms(folder):
    found = sms_messages(folder)
    assert found, "no SMS was sent"
    return found[-1]


def code_in(body):
    return re.search(r"\b(\d{6})\b", body).group(1)


def with_phone(address, number=PHONE):
    user, _ = MailUser.objects.get_or_create(email=address)
    Setting.objects.create(key="phone_number", value=number, user=user)
    return user


def mails_to(address):
    """The messages queued in the spool for `address`, parsed, oldest first."""
    found = Message.objects.filter(recipients__address=address).order_by("received_at", "pk")
    return [email.message_from_bytes(bytes(load_raw(m.pk)), policy=email.policy.default) for m in found]


def link_in(mail, path):
    body = mail.get_body(("plain",)).get_content()
    return re.search(r"https?://[^\s]+(" + re.escape(path) + r"[^\s]+)", body).group(1)
