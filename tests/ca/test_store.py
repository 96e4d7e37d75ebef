"""Importing certificates and keys into the store."""

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ca import authority, formats, remember, store
from ca.keys import decrypt_private_key
from ca.models import Certificate, CertificateEmail, PrivateKey
from ca.sealing import SealError

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "real-clients" / "certs"
needs_samples = pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/testdata is absent on this checkout")


@pytest.fixture
def root(db):
    return authority.create_root("Test Root", key_type="p256")


def pem(cert_row):
    return x509.load_der_x509_certificate(bytes(cert_row.der)).public_bytes(serialization.Encoding.PEM)


def test_pem_der_and_p7b_import_the_same_certificate_once(root):
    cert = authority.issue("Alice@Example.com", key_type="p256")
    der = bytes(cert.der)
    p7b = pkcs7.serialize_certificates([x509.load_der_x509_certificate(der)], serialization.Encoding.DER)
    for data in (pem(cert), der, p7b):
        bundle = formats.read_bundle(data)
        assert bundle.certificates == [der]
        store.import_bundle(bundle)
    assert Certificate.objects.filter(sha256=cert.sha256).count() == 1
    assert list(cert.emails.values_list("email", flat=True)) == ["alice@example.com"]


def test_many_certificates_in_one_pem_file(root):
    certs = [authority.issue(f"user{i}@example.com", key_type="p256") for i in range(3)]
    data = b"".join(pem(c) for c in certs) + pem(root.certificate)
    assert len(formats.read_bundle(data).certificates) == 4


def test_garbage_is_refused_clearly():
    with pytest.raises(formats.UnreadableFile):
        formats.read_bundle(b"this is not a certificate")


def test_bulk_import_deduplicates_by_thumbprint(root):
    certs = [bytes(authority.issue(f"bulk{i}@example.com", key_type="p256").der) for i in range(3)]
    Certificate.objects.exclude(pk=root.certificate.pk).delete()
    assert store.add_many(certs + certs) == 3
    assert store.add_many(certs) == 0
    assert CertificateEmail.objects.filter(email="bulk1@example.com").count() == 1


def test_harvesting_certificates_already_known_is_one_lookup_and_no_write(root):
    known = bytes(authority.issue("known@example.com", key_type="p256").der)
    fresh = bytes(authority.issue("fresh@example.com", key_type="p256").der)
    Certificate.objects.filter(der=fresh).delete()

    with CaptureQueriesContext(connection) as seen_again:
        assert store.harvest([known, known]) == 0
    assert len(seen_again) == 1  # the lookup by thumbprint; no transaction

    assert store.harvest([known, fresh]) == 1
    harvested = Certificate.objects.get(emails__email="fresh@example.com")
    assert harvested.source == Certificate.Source.HARVESTED


def test_within_a_batch_a_harvested_certificate_is_looked_up_once(root):
    known = bytes(authority.issue("known@example.com", key_type="p256").der)
    fresh = bytes(authority.issue("fresh@example.com", key_type="p256").der)
    Certificate.objects.filter(der=fresh).delete()

    with remember.remembering():
        assert store.harvest([known, fresh]) == 1
        with CaptureQueriesContext(connection) as again:
            assert store.harvest([fresh, known]) == 0
        assert len(again) == 0
    with CaptureQueriesContext(connection) as after:
        assert store.harvest([fresh]) == 0
    assert len(after) == 1  # outside the batch: looked up again
    assert Certificate.objects.filter(emails__email="fresh@example.com").count() == 1


def test_private_keys_are_encrypted_at_rest(root):
    cert = authority.issue("keyed@example.com", key_type="p256")
    stored = bytes(PrivateKey.objects.get(certificate=cert).encrypted_pkcs8)
    key = decrypt_private_key(stored)
    plain_der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert plain_der not in stored
    assert key.private_numbers().private_value.to_bytes(32, "big") not in stored


def test_a_sealed_key_is_loaded_once_and_a_damaged_one_never(root, settings):
    cert = authority.issue("loaded@example.com", key_type="p256")
    stored = bytes(PrivateKey.objects.get(certificate=cert).encrypted_pkcs8)
    assert decrypt_private_key(stored) is decrypt_private_key(memoryview(stored))
    damaged = stored[:-1] + bytes([stored[-1] ^ 1])
    with pytest.raises(SealError):
        decrypt_private_key(damaged)
    # Kept per master key: under another key the same bytes do not open.
    settings.LOCKPOST_MASTER_KEY = "another-master-key-0123456789"
    with pytest.raises(SealError):
        decrypt_private_key(stored)


@needs_samples
@pytest.mark.django_db
def test_real_client_pkcs12_files_import_with_their_keys():
    for name, password in (("smime-1-secret.pfx", "smime1"), ("smime-2-secret.pfx", "smime2")):
        bundle = formats.read_bundle((SAMPLES / name).read_bytes(), password)
        store.import_bundle(bundle)
    store.import_bundle(formats.read_bundle((SAMPLES / "ca_smime.crt").read_bytes()))
    keyed = Certificate.objects.filter(private_key__isnull=False)
    assert keyed.count() == 2
    emails = set(CertificateEmail.objects.filter(certificate__in=keyed).values_list("email", flat=True))
    assert len(emails) >= 2
    assert all("@" in e and e == e.lower() for e in emails)
    assert Certificate.objects.filter(is_ca=True).count() == 1


@needs_samples
@pytest.mark.django_db
def test_wrong_pkcs12_password_is_a_clear_error():
    with pytest.raises(formats.UnreadableFile, match="password"):
        formats.read_bundle((SAMPLES / "smime-1-secret.pfx").read_bytes(), "wrong")
