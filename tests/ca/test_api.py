"""Certificates, selection, our CA and trust lists through the REST API."""

import subprocess

import pytest
from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from ca.models import Certificate
from tests.support import pki

pytestmark = pytest.mark.django_db


def client_for(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def staff():
    return User.objects.create_user("ops", "ops@example.com", "unused-pw-88", is_staff=True)


def test_token_is_required(staff):
    assert APIClient().get("/api/ca/certificates/").status_code == 401


def test_import_then_selection_explains(staff):
    api = client_for(staff)
    root = pki.make("Api Root", ca=True, slot=1)
    good = pki.make("Good", root, email="bob@example.org")
    old = pki.make(
        "Old", root, email="bob@example.org", slot=2, not_before=pki.NOW - 9 * pki.DAY, not_after=pki.NOW - pki.DAY
    )
    response = api.post(
        "/api/ca/certificates/import/",
        {"file": SimpleUploadedFile("r.pem", root.pem), "trust_anchor": True},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    assert response.json()[0]["trust_anchor"] is True
    for issued in (good, old):
        assert (
            api.post(
                "/api/ca/certificates/import/", {"file": SimpleUploadedFile("c.der", issued.der)}, format="multipart"
            ).status_code
            == 201
        )
    listed = api.get("/api/ca/certificates/", {"email": "bob@example.org", "state": "expired"}).json()["results"]
    assert [c["subject"] for c in listed] == ["CN=Old"]
    chosen = api.get("/api/ca/selection/bob@example.org/").json()["encrypt"]
    assert [(v["subject"], v["usable"]) for v in chosen] == [("CN=Good", True), ("CN=Old", False)]
    assert chosen[1]["problem"].startswith("expired")
    pem = api.get(f"/api/ca/certificates/{Certificate.objects.get(subject='CN=Good').sha256}/pem/")
    assert pem.content == good.pem


def test_ca_issue_revoke_and_key_export_needs_its_permission(staff, tmp_path):
    api = client_for(staff)
    ca = api.post("/api/ca/authorities/", {"name": "Api CA", "key_type": "p256"}, format="json")
    assert ca.status_code == 201, ca.content
    issued = api.post(
        f"/api/ca/authorities/{ca.json()['id']}/issue/",
        {"email": "erin@example.com", "key_type": "p256"},
        format="json",
    )
    assert issued.status_code == 201, issued.content
    sha = issued.json()["sha256"]
    refused = api.post(f"/api/ca/certificates/{sha}/pkcs12/", {"password": "Export-pw-123"}, format="json")
    assert refused.status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="export_private_key"))
    staff = User.objects.get(pk=staff.pk)  # drop the permission cache
    exported = client_for_existing(staff).post(
        f"/api/ca/certificates/{sha}/pkcs12/", {"password": "Export-pw-123"}, format="json"
    )
    assert exported.status_code == 200
    (tmp_path / "erin.p12").write_bytes(exported.content)
    opened = subprocess.run(
        ["openssl", "pkcs12", "-in", str(tmp_path / "erin.p12"), "-passin", "pass:Export-pw-123", "-nodes"],
        capture_output=True,
        text=True,
    )
    assert opened.returncode == 0, opened.stderr
    assert "BEGIN PRIVATE KEY" in opened.stdout
    revoked = api.post(f"/api/ca/certificates/{sha}/revoke/", {"reason": "key_compromise"}, format="json")
    assert revoked.status_code == 200
    problem = api.get("/api/ca/selection/erin@example.com/").json()["encrypt"][0]["problem"]
    assert problem == "revoked by our CA (key_compromise)"


def client_for_existing(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get(user=user).key}")
    return client


def test_trust_list_blocks(staff):
    api = client_for(staff)
    created = api.post(
        "/api/ca/trust-list/", {"sha256": "ab" * 32, "action": "block", "reason": "lost laptop"}, format="json"
    )
    assert created.status_code == 201
    assert api.get("/api/ca/trust-list/").json()["results"][0]["reason"] == "lost laptop"


def test_schema_covers_the_ca_api(staff):
    schema = client_for(staff).get("/api/schema/").content.decode()
    assert "/api/ca/certificates/import/" in schema
    assert "/api/ca/authorities/{id}/issue/" in schema
