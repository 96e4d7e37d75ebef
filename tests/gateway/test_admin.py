"""The admin as a staff member uses it: messages, domains, users, settings."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from gateway.models import Delivery, Domain, MailUser, Message, RawMessage, Recipient, Setting, TrailEntry
from gateway.policy import service

RAW = b"From: alice@example.com\r\nTo: bob@partner.org\r\nSubject: Quarterly figures\r\n\r\nsecret numbers\r\n"


@pytest.fixture
def admin_client(db):
    user = get_user_model().objects.create_superuser("admin", "admin@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


def staff_client(*permissions):
    user = get_user_model().objects.create_user("staff", password="pw", is_staff=True)
    for codename in permissions:
        user.user_permissions.add(Permission.objects.get(content_type__app_label="gateway", codename=codename))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def message(db):
    message = Message.objects.create(
        mail_from="alice@example.com", size=len(RAW), subject="Quarterly figures", client_address="127.0.0.1"
    )
    RawMessage.objects.create(message=message, data=RAW)
    delivery = Delivery.objects.create(message=message, group_key="g1", treatment="outgoing:if_possible", content=RAW)
    Recipient.objects.create(
        message=message, address="bob@partner.org", direction="outgoing", delivery=delivery, reply="250 2.0.0 Ok"
    )
    TrailEntry.objects.create(message=message, stage="classify", text="sender internal; recipients: 1 outgoing")
    return message


def test_message_list_and_detail_show_envelope_recipients_deliveries_and_trail(admin_client, message):
    listing = admin_client.get("/admin/gateway/message/?state__exact=received")
    assert listing.status_code == 200
    assert message.queue_id in listing.text
    assert "alice@example.com" in listing.text

    detail = admin_client.get(f"/admin/gateway/message/{message.pk}/change/")
    assert detail.status_code == 200
    for shown in ["bob@partner.org", "250 2.0.0 Ok", "outgoing:if_possible", "sender internal; recipients: 1 outgoing"]:
        assert shown in detail.text
    # Read-only: no save button.
    assert 'name="_save"' not in detail.text


def test_message_filter_by_state_leaves_out_other_states(admin_client, message):
    response = admin_client.get("/admin/gateway/message/?state__exact=delivered")
    assert response.status_code == 200
    assert message.queue_id not in response.text


def test_requeue_action_calls_the_worker_for_each_selected_message(admin_client, message, monkeypatch):
    other = Message.objects.create(mail_from="carol@example.com")
    requeued = []

    def requeue(message_id, by=""):
        requeued.append((message_id, by))
        return "requeued for processing"

    monkeypatch.setattr("gateway.worker.requeue", requeue)

    response = admin_client.post(
        "/admin/gateway/message/",
        {"action": "requeue", "_selected_action": [message.pk, other.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert sorted(requeued) == sorted([(message.pk, "admin"), (other.pk, "admin")])
    assert f"{message.queue_id}: requeued for processing" in response.text
    assert f"{other.queue_id}: requeued for processing" in response.text


def test_requeue_needs_the_change_permission(message, monkeypatch):
    requeued = []
    monkeypatch.setattr("gateway.worker.requeue", lambda message_id, by="": requeued.append(message_id))
    client = staff_client("view_message")

    client.post("/admin/gateway/message/", {"action": "requeue", "_selected_action": [message.pk]})

    assert requeued == []


def test_raw_download_refused_without_the_permission(message):
    client = staff_client("view_message", "view_recipient", "view_delivery", "view_trailentry")
    detail = client.get(f"/admin/gateway/message/{message.pk}/change/")
    assert detail.status_code == 200
    assert "/raw/" not in detail.text

    response = client.get(f"/admin/gateway/message/{message.pk}/raw/")
    assert response.status_code == 403
    assert b"secret numbers" not in response.content


def test_raw_download_served_with_the_permission(message):
    client = staff_client("view_message", "view_rawmessage")
    detail = client.get(f"/admin/gateway/message/{message.pk}/change/")
    assert f"/admin/gateway/message/{message.pk}/raw/" in detail.text

    response = client.get(f"/admin/gateway/message/{message.pk}/raw/")
    assert response.status_code == 200
    assert response["Content-Type"] == "message/rfc822"
    assert f'filename="{message.queue_id}.eml"' in response["Content-Disposition"]
    assert response.content == RAW


def test_raw_download_refused_to_anonymous_visitors(message):
    response = Client().get(f"/admin/gateway/message/{message.pk}/raw/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_domain_page_shows_every_effective_value_with_its_origin(admin_client):
    domain = Domain.objects.create(name="example.com", internal=True)
    service.set_setting(service.GLOBAL, "encryption_mode", "mandatory")
    service.set_setting(service.Scope(domain=domain), "signing_mode", "never")

    page = admin_client.get(f"/admin/gateway/domain/{domain.pk}/change/")

    assert page.status_code == 200
    table = page.text.split('class="lockpost-effective-settings"')[1].split("</table>")[0]
    rows = {row.split("<code>")[1].split("</code>")[0]: row for row in table.split("<tr>")[2:]}
    assert set(rows) == set(service.DEFINITIONS)
    assert "mandatory" in rows["encryption_mode"]
    assert "<td>global</td>" in rows["encryption_mode"]
    assert "domain example.com (set here)" in rows["signing_mode"]
    assert "<td>factory</td>" in rows["encryption_algorithm"]


def test_user_page_shows_user_domain_and_factory_origins(admin_client):
    Domain.objects.create(name="*.example.com")
    wildcard = Domain.objects.get(name="*.example.com")
    service.set_setting(service.Scope(domain=wildcard), "pdf_enabled", True)
    user = MailUser.objects.create(email="dave@sub.example.com")
    service.set_setting(service.Scope(user=user), "phone_number", "+31612345678")

    page = admin_client.get(f"/admin/gateway/mailuser/{user.pk}/change/")

    assert page.status_code == 200
    assert "user dave@sub.example.com (set here)" in page.text
    assert "domain *.example.com" in page.text
    assert "+31612345678" in page.text


def inline_post(prefix, rows, **fields):
    """The POST a domain or user change form sends with its settings inline."""
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
        **fields,
    }
    for i, (key, value) in enumerate(rows):
        data[f"{prefix}-{i}-key"] = key
        data[f"{prefix}-{i}-value"] = value
    return data


def test_domain_settings_inline_saves_validated_values(admin_client):
    response = admin_client.post(
        "/admin/gateway/domain/add/",
        inline_post("settings", [("pdf_enabled", "yes"), ("encryption_mode", "mandatory")], name="Example.COM"),
    )
    assert response.status_code == 302
    domain = Domain.objects.get(name="example.com")
    assert service.own_settings(service.Scope(domain=domain)) == {"encryption_mode": "mandatory", "pdf_enabled": True}


def test_domain_saved_with_the_empty_extra_settings_row_left_alone(admin_client):
    domain = Domain.objects.create(name="example.com")
    page = admin_client.get(f"/admin/gateway/domain/{domain.pk}/change/")
    # The empty row offered for a new setting: a browser sends its first option
    # when left alone, and that must be the blank one.
    select = page.text.split('name="settings-0-key"')[1].split("</select>")[0]
    assert select.split("<option")[1].startswith(' value=""')

    response = admin_client.post(
        f"/admin/gateway/domain/{domain.pk}/change/",
        inline_post("settings", [("", "")], name="example.com", internal="on"),
    )

    assert response.status_code == 302
    assert Domain.objects.get().internal is True
    assert not Setting.objects.exists()


def test_domain_settings_inline_refuses_bad_values_and_duplicates(admin_client):
    bad = admin_client.post(
        "/admin/gateway/domain/add/",
        inline_post("settings", [("encryption_mode", "sometimes")], name="example.com"),
    )
    assert bad.status_code == 200
    assert "takes one of never, allow, if_possible, mandatory" in bad.text

    twice = admin_client.post(
        "/admin/gateway/domain/add/",
        inline_post("settings", [("pdf_enabled", "true"), ("pdf_enabled", "false")], name="example.com"),
    )
    assert twice.status_code == 200
    assert "pdf_enabled is set twice" in twice.text
    assert not Domain.objects.exists()
    assert not Setting.objects.exists()


def test_domain_name_is_checked(admin_client):
    response = admin_client.post("/admin/gateway/domain/add/", inline_post("settings", [], name="not a domain"))
    assert response.status_code == 200
    assert "is not a domain name" in response.text


def test_global_setting_added_and_listed(admin_client):
    response = admin_client.post("/admin/gateway/setting/add/", {"key": "sender_notification", "value": "on"})
    assert response.status_code == 302
    assert service.own_settings(service.GLOBAL) == {"sender_notification": True}

    listing = admin_client.get("/admin/gateway/setting/?level=global")
    assert listing.status_code == 200
    assert "sender_notification" in listing.text


def test_global_setting_refuses_a_second_row_for_the_same_key(admin_client):
    service.set_setting(service.GLOBAL, "encryption_mode", "allow")
    response = admin_client.post("/admin/gateway/setting/add/", {"key": "encryption_mode", "value": "never"})
    assert response.status_code == 200
    assert Setting.objects.get(key="encryption_mode").value == "allow"


def test_setting_for_domain_and_user_at_once_is_refused(admin_client):
    domain = Domain.objects.create(name="example.com")
    user = MailUser.objects.create(email="a@example.com")
    response = admin_client.post(
        "/admin/gateway/setting/add/",
        {"key": "pdf_enabled", "value": "true", "domain": domain.pk, "user": user.pk},
    )
    assert response.status_code == 200
    assert "not both" in response.text
    assert not Setting.objects.exists()


@pytest.mark.parametrize(
    "url",
    ["/admin/", "/admin/gateway/domain/add/", "/admin/gateway/mailuser/", "/admin/gateway/setting/"],
)
def test_admin_pages_render(admin_client, url):
    assert admin_client.get(url).status_code == 200


def test_admin_refuses_users_who_are_not_staff(db):
    user = get_user_model().objects.create_user("plain", password="pw")
    client = Client()
    client.force_login(user)
    response = client.get("/admin/gateway/message/")
    assert response.status_code == 302


def test_effective_lookup_for_any_address_shows_origins(admin_client):
    Domain.objects.create(name="*.example.com")
    service.set_setting(service.Scope(domain=Domain.objects.get()), "pdf_enabled", True)
    service.set_setting(service.GLOBAL, "encryption_mode", "mandatory")

    listing = admin_client.get("/admin/gateway/setting/")
    assert "/admin/gateway/setting/effective/" in listing.text

    page = admin_client.get("/admin/gateway/setting/effective/", {"name": "new@sub.example.com"})
    assert page.status_code == 200
    assert "domain *.example.com" in page.text
    assert "<td>global</td>" in page.text

    at_global = admin_client.get("/admin/gateway/setting/effective/")
    assert "global (set here)" in at_global.text
    assert "domain *.example.com" not in at_global.text

    bad = admin_client.get("/admin/gateway/setting/effective/", {"name": "not a domain"})
    assert "is not a domain name" in bad.text


def test_effective_lookup_needs_the_view_permission(db):
    assert staff_client().get("/admin/gateway/setting/effective/").status_code == 403


def test_requeue_button_on_the_message_page(admin_client, message, monkeypatch):
    calls = []
    monkeypatch.setattr("gateway.worker.requeue", lambda message_id, by="": calls.append(message_id) or "requeued")

    page = admin_client.get(f"/admin/gateway/message/{message.pk}/change/")
    assert f"/admin/gateway/message/{message.pk}/requeue/" in page.text

    assert admin_client.get(f"/admin/gateway/message/{message.pk}/requeue/").status_code == 405
    response = admin_client.post(f"/admin/gateway/message/{message.pk}/requeue/", follow=True)
    assert response.redirect_chain[-1][0] == f"/admin/gateway/message/{message.pk}/change/"
    assert f"{message.queue_id}: requeued" in response.text
    assert calls == [message.pk]


def test_requeue_button_refused_without_the_change_permission(message, monkeypatch):
    calls = []
    monkeypatch.setattr("gateway.worker.requeue", lambda message_id, by="": calls.append(message_id))
    client = staff_client("view_message")

    assert "/requeue/" not in client.get(f"/admin/gateway/message/{message.pk}/change/").text
    assert client.post(f"/admin/gateway/message/{message.pk}/requeue/").status_code == 403
    assert calls == []


def test_requeue_button_needs_the_csrf_token(message, monkeypatch):
    calls = []
    monkeypatch.setattr("gateway.worker.requeue", lambda message_id, by="": calls.append(message_id))
    client = Client(enforce_csrf_checks=True)
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw"))

    assert client.post(f"/admin/gateway/message/{message.pk}/requeue/").status_code == 403
    assert calls == []
