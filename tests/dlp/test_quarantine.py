"""The quarantine and rules in the admin, as a staff member uses them: rules
checked by the engine when saved, quarantined messages with masked evidence,
release and delete actions, the download, and the read-only event log."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from dlp.models import QuarantinedMessage, Rule
from gateway import worker
from gateway.models import Domain, Message
from tests.support.spooled import mail_bytes, spooled_message

SENDER = "alice@corp.test"
CARD = "5500 0000 0000 0004"
MASKED = "5500 **** **** 0004"


@pytest.fixture(autouse=True)
def world(db, monkeypatch):
    monkeypatch.setattr("gateway.doorbell.ring", lambda *a: None)
    monkeypatch.setattr("gateway.doorbell.ring_delivery", lambda *a: None)
    Domain.objects.create(name="corp.test", internal=True)
    Rule.objects.create(name="cards", kind="detector", detector="credit_card", action="quarantine")


@pytest.fixture
def admin_client():
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("admin", "admin@corp.test", "pw"))
    return client


def staff_client(*permissions):
    user = get_user_model().objects.create_user("viewer", "viewer@corp.test", "pw", is_staff=True)
    for app, codename in permissions:
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app, codename=codename))
    client = Client()
    client.force_login(user)
    return client


def held():
    data = mail_bytes(SENDER, to=("bob@partner.test",), subject="Invoice", body=f"Card {CARD}\r\n")
    message = spooled_message(SENDER, ("bob@partner.test",), data=data)
    assert worker.process(message.pk) == Message.State.HELD
    return QuarantinedMessage.objects.get(message=message)


def test_the_admin_refuses_a_rule_the_engine_cannot_run(admin_client):
    response = admin_client.post(
        "/admin/dlp/rule/add/",
        {
            "name": "bad",
            "kind": "regex",
            "pattern": "(a",
            "keywords": "[]",
            "hotwords": "[]",
            "exceptions": "[]",
            "exception_patterns": "[]",
            "threshold": "1",
            "hotword_distance": "60",
            "action": "block",
            "enabled": "on",
        },
    )
    assert response.status_code == 200  # the form again, with the reason
    assert "missing )" in response.text
    assert not Rule.objects.filter(name="bad").exists()


def test_the_quarantine_page_shows_masked_evidence_and_the_event_log(admin_client):
    row = held()

    listing = admin_client.get("/admin/dlp/quarantinedmessage/")
    page = admin_client.get(f"/admin/dlp/quarantinedmessage/{row.pk}/change/")

    assert row.message.queue_id in listing.text
    assert "cards" in listing.text
    assert MASKED in page.text
    assert CARD not in page.text
    assert 'name="_save"' not in page.text  # read-only
    assert list(row.events.values_list("what", flat=True)) == ["held", "viewed"]


def test_release_action_lets_the_message_go_once(admin_client):
    row = held()
    action = {"action": "release", "_selected_action": [row.pk]}

    admin_client.post("/admin/dlp/quarantinedmessage/", action)
    worker.process(row.message_id)
    second = admin_client.post("/admin/dlp/quarantinedmessage/", action, follow=True)
    worker.process(row.message_id)

    assert "no longer held" in second.text
    row.refresh_from_db()
    assert row.status == "released"
    assert row.decided_by == "admin@corp.test"
    assert row.message.deliveries.count() == 1


def test_delete_action_drops_the_message(admin_client):
    row = held()

    admin_client.post(
        "/admin/dlp/quarantinedmessage/", {"action": "delete_from_quarantine", "_selected_action": [row.pk]}
    )

    row.refresh_from_db()
    assert row.status == "deleted"
    assert admin_client.get(f"/admin/dlp/quarantinedmessage/{row.pk}/download/").status_code == 404


def test_download_needs_the_raw_message_permission(admin_client):
    row = held()
    viewer = staff_client(("dlp", "view_quarantinedmessage"))

    assert viewer.get(f"/admin/dlp/quarantinedmessage/{row.pk}/change/").status_code == 200
    assert viewer.get(f"/admin/dlp/quarantinedmessage/{row.pk}/download/").status_code == 404
    # A viewer cannot release either: the actions need the change permission.
    viewer.post("/admin/dlp/quarantinedmessage/", {"action": "release", "_selected_action": [row.pk]})
    row.refresh_from_db()
    assert row.status == "held"

    download = admin_client.get(f"/admin/dlp/quarantinedmessage/{row.pk}/download/")
    assert download.status_code == 200
    assert CARD.encode() in download.content
    assert "downloaded" in row.events.values_list("what", flat=True)
