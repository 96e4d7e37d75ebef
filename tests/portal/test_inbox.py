"""The secure inbox: mail for a partner set to secure_delivery = portal is
kept in the portal, sealed; the recipient is mailed a link (and invited),
reads it sanitised in a sandboxed frame, downloads its attachment, replies
and writes to the sender only. One recipient never sees another's mail;
senders revoke, retention expires, read receipts go to the sender."""

import email
import email.policy
from datetime import timedelta

import pytest
from django.utils import timezone

from gateway import worker
from gateway.models import MailUser, Message, Setting
from gateway.spool_raw import load_raw
from portal import services
from portal.models import InboxMessage
from tests.portal.inbox_helpers import (
    ALICE,
    BOB,
    CAROL,
    deliver_all,
    external_client,
    internal_client,
    portal_partner,
    to_portal,
)
from tests.support.spooled import mail_bytes, spooled_message

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def world(monkeypatch, settings, smtp_sink):
    monkeypatch.setattr("gateway.doorbell.ring", lambda *a: None)
    monkeypatch.setattr("gateway.doorbell.ring_delivery", lambda *a: None)
    settings.LOCKPOST_NEXT_HOP = smtp_sink.address
    portal_partner()
    return smtp_sink


def spooled_to(address):
    return [
        email.message_from_bytes(bytes(load_raw(m.pk)), policy=email.policy.default)
        for m in Message.objects.filter(recipients__address=address, listener_profile="system").order_by("pk")
    ]


def test_the_message_stays_in_the_portal_and_the_recipient_gets_a_link(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # the invitation is queued on commit
        message, item = to_portal()
    deliver_all(message)

    [mail] = world.wait_for(1)
    assert mail.rcpt_tos == [BOB]
    notice = email.message_from_bytes(mail.data, policy=email.policy.default)
    text = notice.get_body(("plain",)).get_content()
    assert notice["Subject"] == f"Secure message from {ALICE}"
    assert f"/portal/inbox/{item.pk}/" in text
    assert "Quarterly figures" in text
    # The message itself never left: not in the notice, and sealed at rest.
    assert b"tangerine" not in mail.data
    assert b"tangerine" not in bytes(item.sealed)
    assert b"tangerine" in services.raw_of(item)
    assert item.sender == ALICE
    assert item.expires_at > timezone.now() + timedelta(days=29)
    # No account yet: an activation mail is queued too.
    assert any("/portal/activate/" in m.get_body(("plain",)).get_content() for m in spooled_to(BOB))
    assert message.trail.filter(stage="portal").exists()


def test_recipients_with_the_default_setting_get_no_inbox_copy():
    message = spooled_message(ALICE, ("dave@elsewhere.test",), data=mail_bytes(ALICE, to=("dave@elsewhere.test",)))
    worker.process(message.pk)
    assert not InboxMessage.objects.exists()


def test_a_pipeline_run_again_keeps_one_copy():
    message, item = to_portal()
    again = services.keep(message.queue_id, ALICE, BOB, b"Subject: x\r\n\r\ny", retention_days=30)
    assert again == (item, False)
    assert InboxMessage.objects.count() == 1


def test_the_recipient_reads_the_message_sanitised_in_a_sandboxed_frame():
    _, item = to_portal()
    bob = external_client(BOB)

    listing = bob.get("/portal/inbox/")
    assert listing.status_code == 200
    assert "Quarterly figures" in listing.text
    assert 'class="unread"' in listing.text

    page = bob.get(f"/portal/inbox/{item.pk}/")
    assert page.status_code == 200
    assert f'sandbox="" referrerpolicy="no-referrer" src="/portal/inbox/{item.pk}/body/"' in page.text
    assert "tangerine" not in page.text  # the body is only in the frame
    assert "figures.csv" in page.text
    assert "script-src 'self'" in page["Content-Security-Policy"]

    frame = bob.get(f"/portal/inbox/{item.pk}/body/")
    csp = frame["Content-Security-Policy"]
    assert csp.startswith("default-src 'none'; img-src data:; style-src 'unsafe-inline'")
    assert "frame-ancestors 'self'" in csp
    assert "sandbox" in csp
    assert frame["X-Frame-Options"] == "SAMEORIGIN"
    assert "<b>figures</b>" in frame.text
    assert "tangerine" in frame.text
    assert "<script" not in frame.text
    assert "alert(" not in frame.text
    assert "tracker.example" not in frame.text
    assert 'src="data:image/png;base64,' in frame.text  # the embedded logo, inline
    item.refresh_from_db()
    assert item.read_at is not None


def test_the_attachment_downloads_as_sent():
    _, item = to_portal()
    bob = external_client(BOB)
    response = bob.get(f"/portal/inbox/{item.pk}/attachments/0/")
    assert response.status_code == 200
    assert response.content == b"a,b\r\n1,2\r\n"
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == 'attachment; filename="figures.csv"'
    assert bob.get(f"/portal/inbox/{item.pk}/attachments/1/").status_code == 404


def test_a_reply_goes_to_the_sender_only():
    _, item = to_portal()
    bob = external_client(BOB)
    sent = bob.post(f"/portal/inbox/{item.pk}/", {"text": "Thanks, looks good.", "to": CAROL})
    assert sent.status_code == 302
    [reply] = Message.objects.filter(mail_from=BOB)
    assert list(reply.recipients.values_list("address", flat=True)) == [ALICE]
    parsed = email.message_from_bytes(bytes(load_raw(reply.pk)), policy=email.policy.default)
    assert parsed["Subject"] == "Re: Quarterly figures"
    assert parsed["In-Reply-To"] == item.message_id
    assert parsed.get_body(("plain",)).get_content().strip() == "Thanks, looks good."


def test_writing_is_only_to_those_who_wrote():
    to_portal()
    bob = external_client(BOB)
    form = bob.get("/portal/inbox/write/")
    assert f'<option value="{ALICE}"' in form.text
    refused = bob.post("/portal/inbox/write/", {"to": "mallory@evil.test", "subject": "hi", "text": "relay me"})
    assert refused.status_code == 200
    assert "Select a valid choice" in refused.text
    ok = bob.post("/portal/inbox/write/", {"to": ALICE, "subject": "New topic", "text": "Hello Alice"})
    assert ok.status_code == 302
    [mail] = Message.objects.filter(mail_from=BOB)
    assert list(mail.recipients.values_list("address", flat=True)) == [ALICE]
    assert not Message.objects.filter(recipients__address="mallory@evil.test").exists()


def test_someone_with_no_secure_mail_cannot_write_at_all():
    carol = external_client(CAROL)
    assert carol.get("/portal/inbox/write/").status_code == 404


def test_one_recipient_never_sees_anothers_message():
    _, item = to_portal()
    carol = external_client(CAROL)
    assert "Quarterly figures" not in carol.get("/portal/inbox/").text
    for path in ("", "body/", "attachments/0/"):
        assert carol.get(f"/portal/inbox/{item.pk}/{path}").status_code == 404
    assert carol.post(f"/portal/inbox/{item.pk}/", {"text": "hijack"}).status_code == 404
    assert not Message.objects.filter(mail_from=CAROL).exists()
    item.refresh_from_db()
    assert item.read_at is None


def test_pages_need_a_full_login():
    _, item = to_portal()
    from django.test import Client

    anonymous = Client()
    for path in ("/portal/inbox/", f"/portal/inbox/{item.pk}/", f"/portal/inbox/{item.pk}/body/"):
        assert anonymous.get(path)["Location"].startswith("/portal/login/")


def test_a_reply_without_the_csrf_token_is_refused():
    _, item = to_portal()
    bob = external_client(BOB, enforce_csrf_checks=True)
    assert bob.post(f"/portal/inbox/{item.pk}/", {"text": "forged"}).status_code == 403
    assert not Message.objects.filter(mail_from=BOB).exists()


def test_the_sender_revokes_and_the_recipient_can_no_longer_read():
    _, item = to_portal()
    bob = external_client(BOB)
    other = internal_client("zoe@corp.test")
    assert other.post(f"/portal/inbox/sent/{item.pk}/revoke/").status_code == 404
    alice = internal_client(ALICE)
    assert "Quarterly figures" in alice.get("/portal/inbox/sent/").text
    assert alice.post(f"/portal/inbox/sent/{item.pk}/revoke/").status_code == 302
    item.refresh_from_db()
    assert item.revoked_by == ALICE
    assert bytes(item.sealed) == b""
    assert bob.get(f"/portal/inbox/{item.pk}/").status_code == 404
    assert "Quarterly figures" not in bob.get("/portal/inbox/").text
    # External recipients have no "sent" page.
    assert bob.get("/portal/inbox/sent/").status_code == 404


def test_messages_expire_after_the_retention_period():
    Setting.objects.create(key="portal_retention_days", value="2", user=MailUser.objects.get_or_create(email=ALICE)[0])
    _, item = to_portal()
    assert timedelta(days=1) < item.expires_at - timezone.now() <= timedelta(days=2)
    bob = external_client(BOB)
    InboxMessage.objects.filter(pk=item.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert bob.get(f"/portal/inbox/{item.pk}/").status_code == 404
    assert services.purge() == 1
    assert not InboxMessage.objects.exists()


def test_a_read_receipt_goes_to_the_sender_when_asked():
    Setting.objects.create(key="portal_read_receipt", value="true", user=MailUser.objects.get_or_create(email=ALICE)[0])
    _, item = to_portal()
    bob = external_client(BOB)
    bob.get(f"/portal/inbox/{item.pk}/")
    bob.get(f"/portal/inbox/{item.pk}/")  # the second reading tells nobody
    [receipt] = spooled_to(ALICE)
    assert receipt["Subject"] == "Read: Quarterly figures"
    assert BOB in receipt.get_body(("plain",)).get_content()


def test_no_read_receipt_by_default():
    _, item = to_portal()
    external_client(BOB).get(f"/portal/inbox/{item.pk}/")
    assert spooled_to(ALICE) == []


def test_recipients_with_a_certificate_get_smime_not_the_portal(monkeypatch):
    from types import SimpleNamespace

    monkeypatch.setattr(
        "gateway.handlers.portal_inbox.encryption_certificates", lambda address: SimpleNamespace(chosen=[object()])
    )
    message = spooled_message(ALICE, (BOB,), data=mail_bytes(ALICE, to=(BOB,)))
    worker.process(message.pk)
    assert not InboxMessage.objects.exists()
