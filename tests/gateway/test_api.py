"""The API as a configuration script uses it: a staff token, then domains,
users, settings at each level, effective settings, messages."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from gateway.models import Delivery, Domain, MailUser, Message, RawMessage, Recipient, TrailEntry
from gateway.policy import service
from gateway.policy.definitions import DEFINITIONS

RAW = b"From: alice@example.com\r\nTo: bob@partner.org\r\nSubject: hi\r\n\r\nbody\r\n"


def token_client(username="ops", staff=True, permissions=()):
    user = get_user_model().objects.create_user(username, password="pw", is_staff=staff)
    for codename in permissions:
        user.user_permissions.add(Permission.objects.get(content_type__app_label="gateway", codename=codename))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def api(db):
    return token_client()


@pytest.fixture
def message(db):
    message = Message.objects.create(mail_from="alice@example.com", size=len(RAW), subject="hi")
    RawMessage.objects.create(message=message, data=RAW)
    delivery = Delivery.objects.create(message=message, group_key="g1", treatment="outgoing:never", content=RAW)
    Recipient.objects.create(message=message, address="bob@partner.org", direction="outgoing", delivery=delivery)
    TrailEntry.objects.create(message=message, stage="group", text="1 output(s) for 1 recipient(s)")
    return message


# --- authentication -----------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/api/domains/", "/api/users/", "/api/settings/", "/api/messages/"])
def test_no_token_no_access(url):
    assert APIClient().get(url).status_code == 401


@pytest.mark.django_db
def test_a_wrong_token_is_refused():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")
    assert client.get("/api/domains/").status_code == 401


@pytest.mark.django_db
def test_a_token_of_a_user_who_is_not_staff_is_refused():
    client = token_client("plain", staff=False)
    assert client.get("/api/domains/").status_code == 403
    assert client.post("/api/domains/", {"name": "example.com"}, format="json").status_code == 403
    assert not Domain.objects.exists()


# --- domains and users -------------------------------------------------------


def test_domain_crud(api):
    created = api.post("/api/domains/", {"name": "Example.COM", "internal": True}, format="json")
    assert created.status_code == 201
    assert created.json()["name"] == "example.com"

    api.post("/api/domains/", {"name": "*.example.com"}, format="json")
    listing = api.get("/api/domains/").json()
    assert [(d["name"], d["internal"]) for d in listing["results"]] == [
        ("*.example.com", False),
        ("example.com", True),
    ]

    assert api.get("/api/domains/*.example.com/").json()["internal"] is False
    changed = api.patch("/api/domains/*.example.com/", {"internal": True}, format="json")
    assert changed.status_code == 200
    assert Domain.objects.get(name="*.example.com").internal is True

    assert api.delete("/api/domains/example.com/").status_code == 204
    assert list(Domain.objects.values_list("name", flat=True)) == ["*.example.com"]
    assert api.get("/api/domains/example.com/").status_code == 404


@pytest.mark.parametrize(
    "request_",
    [
        ("post", "/api/domains/", {"name": "new.example"}),
        ("patch", "/api/domains/old.example/", {"internal": True}),
        ("delete", "/api/domains/old.example/", None),
        ("delete", "/api/users/bob@old.example/", None),
    ],
)
def test_a_write_and_its_policy_bump_commit_together(api, monkeypatch, request_):
    Domain.objects.create(name="old.example")
    MailUser.objects.create(email="bob@old.example")
    before = {(d.name, d.internal) for d in Domain.objects.all()}, set(MailUser.objects.values_list("email", "pk"))

    def broken_bump(using="default"):
        raise RuntimeError("the epoch row is unreachable")

    monkeypatch.setattr("gateway.policy.epoch.bump", broken_bump)
    api.raise_request_exception = False
    method, url, data = request_
    reply = getattr(api, method)(url, data, format="json") if data is not None else api.delete(url)
    assert reply.status_code == 500
    # Nothing of the write stays when its bump fails: the two go together.
    after = {(d.name, d.internal) for d in Domain.objects.all()}, set(MailUser.objects.values_list("email", "pk"))
    assert after == before


def test_domain_names_are_checked_and_unique(api):
    bad = api.post("/api/domains/", {"name": "not a domain"}, format="json")
    assert bad.status_code == 400
    assert "not a domain name" in bad.json()["name"][0]

    api.post("/api/domains/", {"name": "example.com"}, format="json")
    again = api.post("/api/domains/", {"name": "EXAMPLE.com"}, format="json")
    assert again.status_code == 400
    assert Domain.objects.count() == 1


def test_user_crud(api):
    created = api.post("/api/users/", {"email": "Alice@Example.com"}, format="json")
    assert created.status_code == 201
    assert created.json()["email"] == "alice@example.com"
    assert created.json()["domain"] == "example.com"
    api.post("/api/users/", {"email": "bob@partner.org"}, format="json")

    only_example = api.get("/api/users/?domain=example.com").json()["results"]
    assert [u["email"] for u in only_example] == ["alice@example.com"]
    assert api.get("/api/users/ALICE@example.com/").status_code == 200

    assert api.put("/api/users/bob@partner.org/", {"email": "robert@partner.org"}, format="json").status_code == 200
    assert api.delete("/api/users/alice@example.com/").status_code == 204
    assert list(MailUser.objects.values_list("email", flat=True)) == ["robert@partner.org"]

    assert api.post("/api/users/", {"email": "no-at-sign"}, format="json").status_code == 400
    assert api.post("/api/users/", {"email": "robert@partner.org"}, format="json").status_code == 400


# --- settings ------------------------------------------------------------------


def test_global_settings_set_change_unset(api):
    created = api.post("/api/settings/", {"key": "encryption_mode", "value": "mandatory"}, format="json")
    assert created.status_code == 201
    assert created.json() == {"key": "encryption_mode", "value": "mandatory"}

    assert api.put("/api/settings/encryption_mode/", {"value": "allow"}, format="json").json()["value"] == "allow"
    assert api.put("/api/settings/pdf_enabled/", {"value": "yes"}, format="json").json()["value"] is True
    assert api.get("/api/settings/").json() == [
        {"key": "encryption_mode", "value": "allow"},
        {"key": "pdf_enabled", "value": True},
    ]
    assert api.get("/api/settings/encryption_mode/").json()["value"] == "allow"

    assert api.delete("/api/settings/encryption_mode/").status_code == 204
    assert api.get("/api/settings/encryption_mode/").status_code == 404
    assert api.delete("/api/settings/encryption_mode/").status_code == 404
    assert service.own_settings(service.GLOBAL) == {"pdf_enabled": True}


def test_settings_are_validated(api):
    bad_value = api.post("/api/settings/", {"key": "encryption_mode", "value": "sometimes"}, format="json")
    assert bad_value.status_code == 400
    assert "takes one of" in bad_value.json()["value"][0]

    bad_key = api.post("/api/settings/", {"key": "colour", "value": "blue"}, format="json")
    assert bad_key.status_code == 400
    assert "key" in bad_key.json()

    bad_phone = api.put("/api/settings/phone_number/", {"value": "call me"}, format="json")
    assert bad_phone.status_code == 400
    assert api.put("/api/settings/colour/", {"value": "blue"}, format="json").status_code == 404
    assert service.own_settings(service.GLOBAL) == {}


def test_domain_and_user_settings(api):
    api.post("/api/domains/", {"name": "example.com", "internal": True}, format="json")
    domain_set = api.post(
        "/api/domains/example.com/settings/", {"key": "signing_mode", "value": "never"}, format="json"
    )
    assert domain_set.status_code == 201
    assert api.get("/api/domains/example.com/settings/").json() == [{"key": "signing_mode", "value": "never"}]

    # Setting something for an address makes it a user.
    user_set = api.put("/api/users/carol@example.com/settings/pdf_enabled/", {"value": True}, format="json")
    assert user_set.status_code == 200
    assert MailUser.objects.filter(email="carol@example.com").exists()
    assert api.get("/api/users/carol@example.com/settings/pdf_enabled/").json() == {
        "key": "pdf_enabled",
        "value": True,
    }
    assert api.delete("/api/users/carol@example.com/settings/pdf_enabled/").status_code == 204
    assert api.get("/api/users/carol@example.com/settings/").json() == []


def test_settings_of_a_domain_that_does_not_exist_are_not_found(api):
    response = api.post("/api/domains/nowhere.example/settings/", {"key": "pdf_enabled", "value": True}, format="json")
    assert response.status_code == 404
    assert api.get("/api/users/ghost@example.com/settings/").status_code == 404
    assert not MailUser.objects.exists()


def test_effective_settings_with_origins(api):
    api.post("/api/domains/", {"name": "example.com", "internal": True}, format="json")
    api.post("/api/domains/", {"name": "*.example.com"}, format="json")
    api.post("/api/settings/", {"key": "encryption_mode", "value": "mandatory"}, format="json")
    api.post("/api/domains/example.com/settings/", {"key": "signing_mode", "value": "never"}, format="json")
    api.post("/api/domains/*.example.com/settings/", {"key": "pdf_enabled", "value": True}, format="json")
    api.post("/api/users/dave@sub.example.com/settings/", {"key": "dlp_enabled", "value": False}, format="json")

    rows = {r["key"]: (r["value"], r["origin"]) for r in api.get("/api/users/dave@sub.example.com/effective/").json()}
    assert set(rows) == set(DEFINITIONS)
    assert rows["encryption_algorithm"] == ("aes256-cbc", "factory")
    assert rows["encryption_mode"] == ("mandatory", "global")
    assert rows["signing_mode"] == ("never", "domain example.com")
    assert rows["pdf_enabled"] == (True, "domain *.example.com")
    assert rows["dlp_enabled"] == (False, "user dave@sub.example.com")

    at_domain = {r["key"]: r["origin"] for r in api.get("/api/domains/example.com/effective/").json()}
    assert at_domain["pdf_enabled"] == "factory"  # the wildcard covers subdomains only
    assert at_domain["signing_mode"] == "domain example.com"

    # Any address or domain, known or not: what its mail would get.
    unknown = {r["key"]: r["origin"] for r in api.get("/api/effective/erin@other.example.com/").json()}
    assert unknown["pdf_enabled"] == "domain *.example.com"
    assert api.get("/api/effective/not a domain/").status_code == 400


def test_definitions_list_every_setting(api):
    rows = {r["key"]: r for r in api.get("/api/definitions/").json()}
    assert set(rows) == set(DEFINITIONS)
    assert rows["pdf_enabled"]["kind"] == "boolean"
    assert rows["encryption_mode"]["choices"] == ["never", "allow", "if_possible", "mandatory"]


# --- messages ------------------------------------------------------------------


def test_messages_list_and_detail(api, message):
    Message.objects.create(mail_from="other@example.com", state=Message.State.DELIVERED)

    received = api.get("/api/messages/?state=received").json()["results"]
    assert [m["queue_id"] for m in received] == [message.queue_id]

    detail = api.get(f"/api/messages/{message.queue_id}/").json()
    assert detail["mail_from"] == "alice@example.com"
    assert detail["recipients"][0]["address"] == "bob@partner.org"
    assert detail["deliveries"][0]["treatment"] == "outgoing:never"
    assert "content" not in detail["deliveries"][0]
    assert detail["trail"][0]["stage"] == "group"


def test_requeue_calls_the_worker(api, message, monkeypatch):
    calls = []

    def requeue(message_id, by=""):
        calls.append((message_id, by))
        return "requeued for processing"

    monkeypatch.setattr("gateway.worker.requeue", requeue)

    response = api.post(f"/api/messages/{message.queue_id}/requeue/")

    assert response.status_code == 202
    assert response.json() == {"queue_id": message.queue_id, "outcome": "requeued for processing"}
    assert calls == [(message.pk, "ops")]
    assert api.post("/api/messages/NOSUCHQUEUEID/requeue/").status_code == 404


def test_requeue_of_a_held_message_through_the_real_worker(api, message):
    Message.objects.filter(pk=message.pk).update(state=Message.State.HELD)

    response = api.post(f"/api/messages/{message.queue_id}/requeue/")

    assert response.status_code == 202
    assert response.json()["outcome"] == "requeued for processing"
    detail = api.get(f"/api/messages/{message.queue_id}/").json()
    assert detail["state"] == "received"
    assert detail["trail"][-1]["text"] == "requeued for processing by ops"


def test_raw_message_needs_its_own_permission(message):
    without = token_client("ops")
    assert without.get(f"/api/messages/{message.queue_id}/raw/").status_code == 403

    allowed = token_client("reader", permissions=["view_rawmessage"])
    response = allowed.get(f"/api/messages/{message.queue_id}/raw/")
    assert response.status_code == 200
    assert response["Content-Type"] == "message/rfc822"
    assert response.content == RAW


# --- schema ----------------------------------------------------------------------


@pytest.mark.django_db
def test_schema_is_served_and_covers_the_api():
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    for path in [
        "/api/domains/",
        "/api/domains/{name}/settings/{key}/",
        "/api/users/{email}/effective/",
        "/api/settings/",
        "/api/effective/{name}/",
        "/api/messages/{queue_id}/requeue/",
    ]:
        assert path in schema["paths"]
    assert "tokenAuth" in schema["components"]["securitySchemes"]


def test_raw_message_gone_is_not_found(message):
    RawMessage.objects.filter(message=message).delete()
    allowed = token_client("reader", permissions=["view_rawmessage"])
    assert allowed.get(f"/api/messages/{message.queue_id}/raw/").status_code == 404
