"""The secure inbox in the API (/api/portal/), with the pages' rules: one's
own messages only, replies and new mail to senders only, revoking by the
sender or an admin. The quarantine's actions are the DLP API's, open to a
DLP manager who is not staff."""

import pytest
from django.test import Client

from gateway.models import Message
from portal.models import InboxMessage
from tests.portal.inbox_helpers import ALICE, BOB, CAROL, external_client, internal_client, portal_partner, to_portal

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def world(monkeypatch):
    monkeypatch.setattr("gateway.doorbell.ring", lambda *a: None)
    monkeypatch.setattr("gateway.doorbell.ring_delivery", lambda *a: None)
    portal_partner()


def test_the_recipient_lists_reads_and_downloads():
    _, item = to_portal()
    bob = external_client(BOB)
    [row] = bob.get("/api/portal/inbox/").json()["results"]
    assert row["subject"] == "Quarterly figures"
    assert row["sender"] == ALICE
    detail = bob.get(f"/api/portal/inbox/{item.pk}/").json()
    assert "tangerine" in detail["text"]
    assert "<script" not in detail["html"]
    assert detail["attachments"][0]["name"] == "figures.csv"
    attachment = bob.get(f"/api/portal/inbox/{item.pk}/attachments/0/")
    assert attachment.content == b"a,b\r\n1,2\r\n"
    assert attachment["Content-Type"] == "application/octet-stream"
    item.refresh_from_db()
    assert item.read_at is not None


def test_reply_and_write_go_to_the_sender_only():
    _, item = to_portal()
    bob = external_client(BOB)
    reply = bob.post(f"/api/portal/inbox/{item.pk}/reply/", {"text": "Thanks"}, content_type="application/json")
    assert reply.status_code == 202
    refused = bob.post(
        "/api/portal/inbox/write/",
        {"to": "mallory@evil.test", "subject": "x", "text": "relay"},
        content_type="application/json",
    )
    assert refused.status_code == 400
    written = bob.post(
        "/api/portal/inbox/write/", {"to": ALICE, "subject": "Hi", "text": "New"}, content_type="application/json"
    )
    assert written.status_code == 202
    sent = Message.objects.filter(mail_from=BOB)
    assert sorted(r for m in sent for r in m.recipients.values_list("address", flat=True)) == [ALICE, ALICE]


def test_another_recipient_finds_nothing():
    _, item = to_portal()
    carol = external_client(CAROL)
    assert carol.get("/api/portal/inbox/").json()["results"] == []
    assert carol.get(f"/api/portal/inbox/{item.pk}/").status_code == 404
    assert carol.get(f"/api/portal/inbox/{item.pk}/attachments/0/").status_code == 404
    reply = carol.post(f"/api/portal/inbox/{item.pk}/reply/", {"text": "x"}, content_type="application/json")
    assert reply.status_code == 404
    assert carol.post(f"/api/portal/sent/{item.pk}/revoke/").status_code == 404


def test_the_api_needs_a_login():
    assert Client().get("/api/portal/inbox/").status_code in (401, 403)


def test_the_sender_and_an_admin_revoke():
    _, first = to_portal(subject="First")
    _, second = to_portal(subject="Second")
    alice = internal_client(ALICE)
    assert {r["subject"] for r in alice.get("/api/portal/sent/").json()["results"]} == {"First", "Second"}
    assert alice.post(f"/api/portal/sent/{first.pk}/revoke/").json()["revoked_by"] == ALICE
    admin = internal_client("admin@corp.test", staff=True)
    assert admin.post(f"/api/portal/sent/{second.pk}/revoke/").status_code == 200
    assert InboxMessage.objects.filter(revoked_at=None).count() == 0
    assert external_client(BOB).get("/api/portal/inbox/").json()["results"] == []


def test_a_dlp_manager_who_is_not_staff_uses_the_quarantine_api():
    from dlp.models import QuarantinedMessage, Rule
    from gateway import worker
    from gateway.models import Domain, Setting
    from tests.support.spooled import mail_bytes, spooled_message

    Setting.objects.create(key="dlp_managers", value="dpo@corp.test", domain=Domain.objects.get(name="corp.test"))
    Rule.objects.create(name="cards", kind="detector", detector="credit_card", action="quarantine")
    data = mail_bytes(ALICE, to=("dave@else.test",), body="Card 5500 0000 0000 0004\r\n")
    message = spooled_message(ALICE, ("dave@else.test",), data=data)
    worker.process(message.pk)
    row = QuarantinedMessage.objects.get(message=message)
    manager = internal_client("dpo@corp.test")
    assert [r["id"] for r in manager.get("/api/dlp/quarantine/").json()["results"]] == [row.pk]
    assert manager.post(f"/api/dlp/quarantine/{row.pk}/release/").status_code == 202
    assert internal_client("zoe@corp.test").get(f"/api/dlp/quarantine/{row.pk}/").status_code == 404
