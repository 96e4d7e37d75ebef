"""`manage.py certificates` as an operator uses it."""

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from ca.models import Certificate, PrivateKey
from tests.support import pki

pytestmark = pytest.mark.django_db
SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "real-clients" / "certs"


def run(*args):
    out = StringIO()
    call_command("certificates", *args, stdout=out)
    return out.getvalue()


def test_import_many_files_then_list_explains_the_choice(tmp_path):
    root = pki.make("Root", ca=True, slot=1)
    good = pki.make("Good", root, email="bob@example.org")
    expired = pki.make(
        "Expired", root, email="bob@example.org", slot=2, not_after=pki.NOW - pki.DAY, not_before=pki.NOW - 9 * pki.DAY
    )
    (tmp_path / "root.pem").write_bytes(root.pem)
    (tmp_path / "good.der").write_bytes(good.der)
    (tmp_path / "expired.pem").write_bytes(expired.pem)
    out = run("import", "--trust-anchor", "--no-progress", *sorted(str(p) for p in tmp_path.iterdir()))
    assert "imported 3 certificate(s)" in out
    assert Certificate.objects.get(subject="CN=Root").trust_anchor
    listing = run("list", "bob@example.org")
    assert "encrypt to bob@example.org: CN=Good" in listing
    assert "expired on" in listing


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/testdata is absent on this checkout")
def test_import_real_client_pkcs12_with_password():
    out = run("import", "--password", "smime2", str(SAMPLES / "smime-2-secret.pfx"))
    assert "1 private key(s)" in out
    assert PrivateKey.objects.count() == 1


def test_our_ca_issues_and_revokes_from_the_command_line():
    run("create-ca", "Lockpost Test Root", "--key-type", "p256")
    out = run("issue", "carol@example.com", "--key-type", "p256")
    assert "issued emailAddress=carol@example.com,CN=carol@example.com" in out
    cert = Certificate.objects.get(emails__email="carol@example.com")
    assert "encrypt to carol@example.com: emailAddress=carol@example.com" in run("list", "carol@example.com")
    run("revoke", cert.sha256, "--reason", "key_compromise")
    assert "revoked by our CA (key_compromise)" in run("list", "carol@example.com")


def test_missing_file_is_a_clear_error():
    with pytest.raises(CommandError, match="no such file"):
        run("import", "/nonexistent/file.pem")
