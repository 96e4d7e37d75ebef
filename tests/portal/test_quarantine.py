"""Quarantine self-service at /quarantine/ (where DLP notices link): DLP
managers of the sender's domain and, when allowed, the sender see held mail
with the rules hit and masked evidence, and release, delete or download it,
each recorded; anyone else finds nothing."""

import pytest
from django.test import Client

from dlp.models import QuarantinedMessage, QuarantineEvent, Rule
from gateway import worker
from gateway.models import Domain, Message, Setting
from tests.portal.inbox_helpers import external_client, internal_client
from tests.support.spooled import mail_bytes, spooled_message

pytestmark = pytest.mark.django_db

SENDER, MANAGER = "alice@corp.test", "dpo@corp.test"
CARD, MASKED = "5500 0000 0000 0004", "5500 **** **** 0004"


@pytest.fixture(autouse=True)
def world(monkeypatch):
    monkeypatch.setattr("gateway.doorbell.ring", lambda *a: None)
    monkeypatch.setattr("gateway.doorbell.ring_delivery", lambda *a: None)
    corp = Domain.objects.create(name="corp.test", internal=True)
    Domain.objects.create(name="other.test", internal=True)
    Setting.objects.create(key="dlp_managers", value=MANAGER, domain=corp)
    Rule.objects.create(name="cards", kind="detector", detector="credit_card", action="quarantine")


def held(sender=SENDER, subject="Invoice"):
    data = mail_bytes(sender, to=("bob@partner.test",), subject=subject, body=f"Card {CARD}\r\n")
    message = spooled_message(sender, ("bob@partner.test",), data=data)
    Message.objects.filter(pk=message.pk).update(subject=subject)  # as the spool reads it
    assert worker.process(message.pk) == Message.State.HELD
    return QuarantinedMessage.objects.get(message=message)


def events(row):
    return list(QuarantineEvent.objects.filter(quarantined=row).values_list("who", "what"))


def test_the_manager_sees_the_list_and_the_masked_evidence():
    row = held()
    manager = internal_client(MANAGER)
    listing = manager.get("/quarantine/")
    assert listing.status_code == 200
    assert "Invoice" in listing.text
    assert "cards" in listing.text
    assert "default-src 'self'" in listing["Content-Security-Policy"]
    page = manager.get(f"/quarantine/{row.pk}/")
    assert MASKED in page.text
    assert CARD not in page.text
    assert (MANAGER, "viewed") in events(row)


def test_the_manager_releases_once_and_it_is_recorded():
    row = held()
    manager = internal_client(MANAGER)
    assert manager.post(f"/quarantine/{row.pk}/release/")["Location"] == "/quarantine/"
    row.refresh_from_db()
    assert row.status == "released"
    assert row.decided_by == MANAGER
    assert (MANAGER, "released") in events(row)
    assert Message.objects.get(pk=row.message_id).state == Message.State.RECEIVED  # on its way again
    again = manager.post(f"/quarantine/{row.pk}/release/", follow=True)
    assert "Nothing was done" in again.text


def test_the_manager_deletes_and_downloads():
    first, second = held(subject="One"), held(subject="Two")
    manager = internal_client(MANAGER)
    download = manager.get(f"/quarantine/{first.pk}/download/")
    assert download.status_code == 200
    assert CARD.encode() in download.content
    assert download["Content-Type"] == "message/rfc822"
    assert (MANAGER, "downloaded") in events(first)
    manager.post(f"/quarantine/{second.pk}/delete/")
    second.refresh_from_db()
    assert second.status == "deleted"
    assert (MANAGER, "deleted") in events(second)


def test_someone_else_finds_nothing():
    row = held()
    for client in (internal_client("mallory@other.test"), internal_client(SENDER), external_client("bob@partner.test")):
        assert "Invoice" not in client.get("/quarantine/").text
        for path in ("", "download/"):
            assert client.get(f"/quarantine/{row.pk}/{path}").status_code == 404
        assert client.post(f"/quarantine/{row.pk}/release/").status_code == 404
    row.refresh_from_db()
    assert row.status == "held"
    assert [what for _, what in events(row)] == ["held"]


def test_the_sender_acts_on_their_own_when_allowed():
    Setting.objects.create(key="dlp_sender_may_release", value="true", domain=Domain.objects.get(name="corp.test"))
    mine, theirs = held(), held(sender="zoe@corp.test", subject="Zoe's")
    alice = internal_client(SENDER)
    listing = alice.get("/quarantine/")
    assert "Invoice" in listing.text
    assert "Zoe" not in listing.text
    assert alice.get(f"/quarantine/{theirs.pk}/").status_code == 404
    assert alice.post(f"/quarantine/{mine.pk}/delete/").status_code == 302
    mine.refresh_from_db()
    assert mine.status == "deleted"


def test_the_notice_link_leads_here_after_login():
    row = held()
    response = Client().get(f"/quarantine/{row.pk}/")
    assert response["Location"] == f"/portal/login/?next=%2Fquarantine%2F{row.pk}%2F"


def test_actions_need_post_and_the_csrf_token():
    row = held()
    manager = internal_client(MANAGER, enforce_csrf_checks=True)
    assert manager.get(f"/quarantine/{row.pk}/release/").status_code == 405
    assert manager.post(f"/quarantine/{row.pk}/release/").status_code == 403
    row.refresh_from_db()
    assert row.status == "held"
