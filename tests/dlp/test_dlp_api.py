"""The DLP API as scripts and people use it: rules at each level (staff),
and the quarantine with its permissions: staff, the DLP managers of the
sender's domain, and the sender for their own messages when allowed."""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from dlp.models import QuarantinedMessage, Rule
from gateway import worker
from gateway.models import Domain, Message
from gateway.policy import service
from tests.support.spooled import mail_bytes, spooled_message

SENDER = "alice@corp.test"
OTHER_SENDER = "carol@corp.test"
MANAGER = "officer@corp.test"
CARD = "4111 1111 1111 1111"
MASKED = "4111 **** **** 1111"


@pytest.fixture(autouse=True)
def world(db, monkeypatch):
    monkeypatch.setattr("gateway.doorbell.ring", lambda *a: None)
    monkeypatch.setattr("gateway.doorbell.ring_delivery", lambda *a: None)
    corp = Domain.objects.create(name="corp.test", internal=True)
    Domain.objects.create(name="other.test", internal=True)
    service.set_setting(service.Scope(domain=corp), "dlp_managers", f"{MANAGER}, second@corp.test")
    Rule.objects.create(name="cards", kind="detector", detector="credit_card", action="quarantine")
    return corp


def client_for(email, staff=False):
    user = get_user_model().objects.create_user(username=email, email=email, password="x", is_staff=staff)
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def staff():
    return client_for("admin@corp.test", staff=True)


def held_from(sender):
    data = mail_bytes(sender, to=("bob@partner.test",), subject="Order", body=f"Card {CARD}\r\n")
    message = spooled_message(sender, ("bob@partner.test",), data=data)
    assert worker.process(message.pk) == Message.State.HELD
    return QuarantinedMessage.objects.get(message=message)


# --- rules -----------------------------------------------------------------------


def test_staff_set_rules_at_each_level_and_read_the_effective_ones(staff):
    made = staff.post(
        "/api/dlp/rules/",
        {
            "name": "falcon",
            "kind": "keywords",
            "keywords": ["project falcon"],
            "action": "block",
            "domain": "corp.test",
        },
        format="json",
    )
    assert made.status_code == 201, made.content
    assert made.json()["level"] == "domain corp.test"
    user_rule = staff.post(
        "/api/dlp/rules/",
        {"name": "iban", "kind": "detector", "detector": "iban", "action": "warn", "user": SENDER},
        format="json",
    )
    assert user_rule.status_code == 400  # no such user yet: users are made when first seen
    staff.post("/api/users/", {"email": SENDER}, format="json")
    user_rule = staff.post(
        "/api/dlp/rules/",
        {"name": "iban", "kind": "detector", "detector": "iban", "action": "warn", "user": SENDER},
        format="json",
    )
    assert user_rule.status_code == 201, user_rule.content
    exempt = staff.post("/api/dlp/exemptions/", {"rule_name": "cards", "user": SENDER}, format="json")
    assert exempt.status_code == 201, exempt.content

    effective = staff.get(f"/api/dlp/effective/{SENDER}/").json()

    assert {r["name"]: r["origin"] for r in effective["rules"]} == {
        "falcon": "domain corp.test",
        "iban": f"user {SENDER}",
    }
    assert effective["exempted"] == {"cards": f"user {SENDER}"}
    assert [r["name"] for r in staff.get("/api/dlp/rules/?level=gateway").json()["results"]] == ["cards"]
    assert [r["name"] for r in staff.get("/api/dlp/rules/?domain=corp.test").json()["results"]] == ["falcon"]


def test_a_rule_the_engine_refuses_is_a_400_with_the_reason(staff):
    bad = staff.post("/api/dlp/rules/", {"name": "bad", "kind": "regex", "pattern": "(unclosed"}, format="json")
    assert bad.status_code == 400
    assert "missing )" in bad.content.decode()
    assert not Rule.objects.filter(name="bad").exists()
    rule = Rule.objects.get(name="cards")
    changed = staff.patch(f"/api/dlp/rules/{rule.pk}/", {"detector": "nope"}, format="json")
    assert changed.status_code == 400
    assert "unknown detector" in changed.content.decode()
    ok = staff.patch(f"/api/dlp/rules/{rule.pk}/", {"action": "warn"}, format="json")
    assert ok.status_code == 200, ok.content
    assert Rule.objects.get(pk=rule.pk).action == "warn"


def test_only_staff_change_rules():
    manager = client_for(MANAGER)
    assert manager.get("/api/dlp/rules/").status_code == 403
    made = manager.post("/api/dlp/rules/", {"name": "x", "kind": "keywords", "keywords": ["x"]}, format="json")
    assert made.status_code == 403


# --- quarantine ------------------------------------------------------------------


def test_manager_lists_views_downloads_and_releases_their_domains_quarantine():
    held = held_from(SENDER)
    manager = client_for(MANAGER)

    listed = manager.get("/api/dlp/quarantine/").json()["results"]
    detail = manager.get(f"/api/dlp/quarantine/{held.pk}/")
    download = manager.get(f"/api/dlp/quarantine/{held.pk}/download/")
    released = manager.post(f"/api/dlp/quarantine/{held.pk}/release/")
    again = manager.post(f"/api/dlp/quarantine/{held.pk}/release/")

    assert [row["id"] for row in listed] == [held.pk]
    assert detail.status_code == 200
    assert detail.json()["verdict"]["hits"][0]["evidence"][0]["masked"] == MASKED
    assert CARD not in detail.content.decode()
    assert download.status_code == 200
    assert download["Content-Type"] == "message/rfc822"
    assert CARD.encode() in download.content
    assert released.status_code == 202
    assert again.status_code == 409
    assert worker.process(held.message_id) == Message.State.DELIVERING
    assert held.message.deliveries.count() == 1
    events = list(held.events.values_list("what", "who"))
    assert events == [("held", "gateway"), ("viewed", MANAGER), ("downloaded", MANAGER), ("released", MANAGER)]


def test_manager_deletes_and_then_nothing_is_left_to_download():
    held = held_from(SENDER)
    manager = client_for(MANAGER)

    assert manager.delete(f"/api/dlp/quarantine/{held.pk}/").status_code == 204
    assert manager.get(f"/api/dlp/quarantine/{held.pk}/download/").status_code == 404
    assert manager.post(f"/api/dlp/quarantine/{held.pk}/release/").status_code == 409
    assert manager.get("/api/dlp/quarantine/?status=deleted").json()["results"][0]["decided_by"] == MANAGER


def test_a_manager_of_another_domain_sees_nothing_and_cannot_act():
    held = held_from(SENDER)
    service.set_setting(service.domain_scope("other.test"), "dlp_managers", "boss@other.test")
    stranger = client_for("boss@other.test")

    assert stranger.get("/api/dlp/quarantine/").json()["results"] == []
    assert stranger.get(f"/api/dlp/quarantine/{held.pk}/").status_code == 404
    assert stranger.get(f"/api/dlp/quarantine/{held.pk}/download/").status_code == 404
    assert stranger.post(f"/api/dlp/quarantine/{held.pk}/release/").status_code == 404
    assert stranger.delete(f"/api/dlp/quarantine/{held.pk}/").status_code == 404
    held.refresh_from_db()
    assert held.status == "held"
    assert list(held.events.values_list("what", flat=True)) == ["held"]


def test_senders_act_on_their_own_only_when_allowed():
    own = held_from(SENDER)
    someone_elses = held_from(OTHER_SENDER)
    alice = client_for(SENDER)

    assert alice.get("/api/dlp/quarantine/").json()["results"] == []
    assert alice.post(f"/api/dlp/quarantine/{own.pk}/release/").status_code == 404

    service.set_setting(service.domain_scope("corp.test"), "dlp_sender_may_release", True)

    assert [row["id"] for row in alice.get("/api/dlp/quarantine/").json()["results"]] == [own.pk]
    assert alice.get(f"/api/dlp/quarantine/{someone_elses.pk}/").status_code == 404
    assert alice.post(f"/api/dlp/quarantine/{someone_elses.pk}/release/").status_code == 404
    assert alice.delete(f"/api/dlp/quarantine/{someone_elses.pk}/").status_code == 404
    assert alice.post(f"/api/dlp/quarantine/{own.pk}/release/").status_code == 202
    someone_elses.refresh_from_db()
    assert someone_elses.status == "held"


def test_staff_see_everything_and_anonymous_nothing(staff):
    held = held_from(SENDER)
    assert [row["id"] for row in staff.get("/api/dlp/quarantine/").json()["results"]] == [held.pk]
    assert APIClient().get("/api/dlp/quarantine/").status_code in (401, 403)
    assert APIClient().post(f"/api/dlp/quarantine/{held.pk}/release/").status_code in (401, 403)


def test_one_rule_name_per_level(staff):
    again = staff.post("/api/dlp/rules/", {"name": "cards", "kind": "detector", "detector": "iban"}, format="json")
    at_domain = staff.post(
        "/api/dlp/rules/",
        {"name": "cards", "kind": "detector", "detector": "iban", "domain": "corp.test"},
        format="json",
    )
    assert again.status_code == 400
    assert at_domain.status_code == 201  # a domain may redefine an inherited rule


def test_the_api_schema_names_the_dlp_endpoints(staff):
    schema = staff.get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/dlp/quarantine/{id}/release/" in paths
    assert "/api/dlp/rules/" in paths
