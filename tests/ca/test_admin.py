"""The certificate admin as a staff member uses it."""

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile

from ca import authority
from ca.models import Certificate, TrustListEntry
from tests.support import pki

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(User.objects.create_superuser("admin", "admin@example.com", "pw-not-used-0192"))
    return client


def test_import_shows_validation_and_path(admin_client):
    root = pki.make("Upload Root", ca=True, slot=1)
    bob = pki.make("Bob", root, email="bob@example.org")
    response = admin_client.post(
        "/admin/ca/certificate/import/",
        {
            "files": [SimpleUploadedFile("root.pem", root.pem), SimpleUploadedFile("bob.der", bob.der)],
            "trust_anchor": "on",
        },
    )
    assert response.status_code == 302
    cert = Certificate.objects.get(subject="CN=Bob")
    page = admin_client.get(f"/admin/ca/certificate/{cert.pk}/change/").content.decode()
    assert "encrypt: valid; path: CN=Bob → CN=Upload Root" in page
    assert "in the database" not in page  # no key came with it
    listing = admin_client.get("/admin/ca/certificate/?q=bob@example.org").content.decode()
    assert "bob@example.org" in listing


def test_issue_then_filter_expiring_and_blocked(admin_client):
    authority.create_root("Admin Root", key_type="p256")
    response = admin_client.post("/admin/ca/certificate/issue/", {"email": "dora@example.com", "key_type": "p256"})
    assert response.status_code == 302
    cert = Certificate.objects.get(emails__email="dora@example.com")
    page = admin_client.get(f"/admin/ca/certificate/{cert.pk}/change/").content.decode()
    assert "in the database, encrypted under the master key" in page
    admin_client.post("/admin/ca/certificate/", {"action": "block", "_selected_action": [cert.pk]})
    assert TrustListEntry.objects.get(sha256=cert.sha256).action == "block"
    blocked = admin_client.get("/admin/ca/certificate/?state=blocked").content.decode()
    assert "dora@example.com" in blocked
    expiring = admin_client.get("/admin/ca/certificate/?state=expiring").content.decode()
    assert "dora@example.com" not in expiring


def test_a_bad_file_is_reported_not_a_crash(admin_client):
    response = admin_client.post("/admin/ca/certificate/import/", {"files": [SimpleUploadedFile("junk.pem", b"junk")]})
    assert response.status_code == 200
    assert b"errorlist" in response.content


@pytest.mark.parametrize("model", ["revocationlist", "ocspresponse", "revocation"])
def test_fetched_and_recorded_rows_cannot_be_typed_in(admin_client, model):
    assert admin_client.get(f"/admin/ca/{model}/add/").status_code == 403
