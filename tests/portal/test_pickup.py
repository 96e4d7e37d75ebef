"""Certificate pickup: link by mail, password by SMS, both PKCS#12 forms,
single-browser links, expiry, and every download recorded."""

import logging

import pytest
from cryptography.hazmat.primitives.serialization import pkcs12
from django.contrib.auth import get_user_model
from django.test import Client

from ca import authority
from portal import pickup
from portal.models import Pickup, PickupDownload

from .conftest import last_sms, link_in, mails_to, with_phone

pytestmark = pytest.mark.django_db

ADDRESS = "bob@example.org"


@pytest.fixture
def root():
    return authority.create_root("Portal Test Root", key_type="p256")


def password_in(body):
    return body.rsplit(": ", 1)[1].strip()


@pytest.fixture
def offered(root, sms_dir, django_capture_on_commit_callbacks):
    with_phone(ADDRESS)
    with django_capture_on_commit_callbacks(execute=True):
        # Issuing for an external recipient offers the pickup by itself.
        certificate = authority.issue(ADDRESS, key_type="p256")
    offered = Pickup.objects.get(certificate=certificate)
    path = link_in(mails_to(ADDRESS)[-1], "/portal/pickup/")
    return offered, path, password_in(last_sms(sms_dir)["body"])


def test_offer_mails_a_link_and_texts_the_password(offered, settings):
    _found, path, password = offered
    (mail,) = mails_to(ADDRESS)
    assert settings.LOCKPOST_POSTMASTER in mail["From"]
    assert path.startswith("/portal/pickup/")
    assert len(password.replace("-", "")) == 16
    # Stored only sealed: neither the password nor the key material in clear.
    row = Pickup.objects.get()
    assert password.encode() not in bytes(row.sealed_modern)


def test_both_forms_open_with_the_sms_password(offered, caplog):
    caplog.set_level(logging.DEBUG)
    found, path, password = offered
    client = Client()
    page = client.get(path)
    assert page.status_code == 200
    body = page.content.decode()
    for name in ("Outlook", "Thunderbird", "Apple Mail"):
        assert name in body
    for form in ("modern", "legacy"):
        answer = client.get(f"/portal/pickup/{found.pk}/download/{form}/")
        assert answer.status_code == 200
        assert answer["Content-Type"] == "application/x-pkcs12"
        assert "attachment" in answer["Content-Disposition"]
        bundle = pkcs12.load_pkcs12(answer.content, password.encode())
        assert bundle.key is not None
        assert ADDRESS in bundle.cert.certificate.subject.rfc4514_string()
        assert len(bundle.additional_certs) == 1  # the root
        with pytest.raises(ValueError, match="Invalid password"):
            pkcs12.load_pkcs12(answer.content, b"wrong password")
    recorded = list(PickupDownload.objects.order_by("at").values_list("form", "ip_address"))
    assert recorded == [("modern", "127.0.0.1"), ("legacy", "127.0.0.1")]
    for record in caplog.records:
        assert password not in record.getMessage()


def test_link_works_in_one_browser_only(offered):
    found, path, _ = offered
    assert Client().get(path).status_code == 200
    other = Client()
    assert other.get(path).status_code == 404
    assert other.get(f"/portal/pickup/{found.pk}/download/modern/").status_code == 404
    assert not PickupDownload.objects.exists()


def test_one_recipient_cannot_reach_anothers_pickup(offered, root, sms_dir, django_capture_on_commit_callbacks):
    found, path, _ = offered
    with_phone("carol@example.org", "+31612345679")
    with django_capture_on_commit_callbacks(execute=True):
        carols = pickup.offer(authority.issue("carol@example.org", key_type="p256"))
    bob = Client()
    assert bob.get(path).status_code == 200
    # Bob holds his own pickup; changing the number in the URL gets him nothing.
    assert bob.get(f"/portal/pickup/{carols.pk}/download/modern/").status_code == 404
    assert bob.get(f"/portal/pickup/{carols.pk}/download/legacy/").status_code == 404
    # Nor does a logged-in staff user without the link.
    staff = get_user_model().objects.create_user("admin", "admin@corp.example", "x", is_staff=True)
    as_staff = Client()
    as_staff.force_login(staff)
    assert as_staff.get(f"/portal/pickup/{found.pk}/download/modern/").status_code == 404
    assert not PickupDownload.objects.filter(pickup=carols).exists()


def test_tampered_link_refused(offered):
    found, path, _ = offered
    token = path.split("/")[3]
    assert Client().get(f"/portal/pickup/{token[:-3]}xyz/").status_code == 404
    forged = pickup.signing.dumps({"p": found.pk, "n": "guessed"}, salt=pickup.SALT)
    assert Client().get(f"/portal/pickup/{forged}/").status_code == 404


def test_expired_pickup_refused(offered):
    found, path, _ = offered
    client = Client()
    assert client.get(path).status_code == 200
    Pickup.objects.filter(pk=found.pk).update(expires_at=found.created_at)
    assert client.get(path).status_code == 404
    assert client.get(f"/portal/pickup/{found.pk}/download/modern/").status_code == 404


def test_expired_link_refused(offered, settings):
    _, path, _ = offered
    settings.LOCKPOST_PICKUP_MAX_AGE = -1
    assert Client().get(path).status_code == 404


def test_without_a_phone_the_issuer_gets_the_password(root, django_capture_on_commit_callbacks):
    issuer = get_user_model().objects.create_user("ca-admin", "ca-admin@corp.example", "x", is_staff=True)
    with django_capture_on_commit_callbacks(execute=True):
        found = pickup.offer(authority.issue("dave@example.org", key_type="p256"), issued_by_user=issuer)
    (notice,) = mails_to("ca-admin@corp.example")
    password = notice.get_body(("plain",)).get_content().split()[-1]
    assert found.password_sent_to == "ca-admin@corp.example"
    assert "dave@example.org" in notice["Subject"]
    # and the recipient's mail has the link but not the password
    (link_mail,) = mails_to("dave@example.org")
    assert password not in link_mail.get_body(("plain",)).get_content()


def test_without_phone_or_issuer_nothing_is_offered(root):
    with pytest.raises(pickup.PickupError):
        pickup.offer(authority.issue("erin@example.org", key_type="p256"))
    assert not Pickup.objects.exists()


def test_expired_pickups_lose_their_files(offered):
    found, _, _ = offered
    assert pickup.purge_expired() == 0
    Pickup.objects.filter(pk=found.pk).update(expires_at=found.created_at)
    assert pickup.purge_expired() == 1
    row = Pickup.objects.get()
    assert bytes(row.sealed_modern) == b""
    assert bytes(row.sealed_legacy) == b""


def test_issuing_for_an_external_recipient_offers_the_pickup_at_once(root, sms_dir, django_capture_on_commit_callbacks):
    with_phone("erin@partner.example")
    with django_capture_on_commit_callbacks(execute=True):
        certificate = authority.issue("erin@partner.example", key_type="p256")
    assert certificate.issue_notes == ["Pickup offered to erin@partner.example."]
    assert Pickup.objects.get().certificate == certificate
    assert link_in(mails_to("erin@partner.example")[-1], "/portal/pickup/")
    assert last_sms(sms_dir)["to"] == "+31612345678"


def test_internal_users_keep_their_keys_on_the_gateway(root, sms_dir):
    from gateway.models import Domain

    Domain.objects.create(name="corp.example", internal=True)
    certificate = authority.issue("ann@corp.example", key_type="p256")
    assert certificate.issue_notes == []
    assert not Pickup.objects.exists()


def test_offering_again_withdraws_the_earlier_link(offered, sms_dir, django_capture_on_commit_callbacks):
    first, first_path, _ = offered
    with django_capture_on_commit_callbacks(execute=True):
        second = pickup.offer(first.certificate)
    first.refresh_from_db()
    assert first.withdrawn
    assert not second.withdrawn
    assert Client().get(first_path).status_code == 404
