"""Mail written by real clients (Outlook 15/16, Thunderbird 128) and the RFC 9788 vectors.

Read in place from the shared test data beside the project; skipped where absent.
"""

import base64
import datetime

import pytest
from cryptography import x509

from gateway.smime import load_pkcs12, unwrap
from gateway.smime.mime import Entity

from .conftest import TESTDATA

REAL = TESTDATA / "real-clients"
HP = TESTDATA / "header-protection"
# Inside every sample certificate's validity (issued August 2024).
AT_2025 = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
AT_2020 = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)

needs_real = pytest.mark.skipif(not REAL.is_dir(), reason=f"real-client samples not found at {REAL}")
needs_hp = pytest.mark.skipif(not HP.is_dir(), reason=f"RFC 9788 vectors not found at {HP}")


def _samples(kind: str) -> list:
    folder = REAL / "received-at-smime2"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.eml") if p.stem.endswith(f"({kind})"))


@pytest.fixture(scope="module")
def smime2():
    return load_pkcs12((REAL / "certs" / "smime-2-secret.pfx").read_bytes(), b"smime2")


@pytest.fixture(scope="module")
def ca():
    return x509.load_pem_x509_certificate((REAL / "certs" / "ca_smime.crt").read_bytes())


@pytest.fixture(scope="module")
def smime1_cert():
    return x509.load_pem_x509_certificate((REAL / "certs" / "smime-1.crt").read_bytes())


def _client(path) -> str:
    return "outlook" if path.name.startswith("Message") else "thunderbird"


@needs_real
@pytest.mark.parametrize("path", _samples("encrypted"), ids=lambda p: p.name)
def test_encrypted_samples_decrypt(path, smime2):
    result = unwrap(path.read_bytes(), [smime2])
    assert len(result.layers) == 1
    details = result.decrypted.details
    # Outlook writes AES-256-CBC, Thunderbird AES-128-CBC; both RSA v1.5 with the sender as a second recipient.
    assert details.cipher == {"outlook": "aes256_cbc", "thunderbird": "aes128_cbc"}[_client(path)]
    assert details.key_encryption == "rsaes_pkcs1v15"
    assert details.recipient_count == 2
    assert b"smime1 to smime2 (encrypted)" in result.message


@needs_real
@pytest.mark.parametrize("path", _samples("signed") + _samples("signed and encrypted"), ids=lambda p: p.name)
def test_signed_samples_verify_and_yield_the_senders_certificate(path, smime2, ca, smime1_cert):
    result = unwrap(path.read_bytes(), [smime2], trust_roots=[ca], at=AT_2025)
    verification = result.verified.verification
    assert verification.verdict == "valid", (verification.signer.problem, verification.signer.trust_problem)
    assert verification.signer.certificate == smime1_cert
    assert smime1_cert in verification.certificates  # what the gateway harvests
    assert verification.signer.signing_time.year == 2024
    if "encrypted" in path.name:
        assert result.decrypted is not None


@needs_real
def test_real_signature_turns_invalid_when_one_byte_changes(ca):
    path = REAL / "received-at-smime2" / "Message from smime1 to smime2 (signed).eml"
    raw = path.read_bytes().replace(
        b"Message from smime1 to smime2 (signed)\r\n\r\n", b"Message from smime1 to smime2 (signeD)\r\n\r\n", 1
    )
    result = unwrap(raw, trust_roots=[ca], at=AT_2025)
    assert result.verified.verification.verdict == "invalid"


@needs_real
def test_sent_copies_decrypt_with_the_senders_own_key():
    smime1 = load_pkcs12((REAL / "certs" / "smime-1-secret.pfx").read_bytes(), b"smime1")
    path = REAL / "sent-from-smime1" / "Writing from smime1 to smime2 (encrypted).eml"
    assert b"(encrypted)" in unwrap(path.read_bytes(), [smime1]).message


def _bob():
    armoured = (HP / "bob.p12").read_bytes()
    der = base64.b64decode(b"".join(line for line in armoured.splitlines() if not line.startswith(b"-----")))
    return load_pkcs12(der, b"bob")


def _hp_samples() -> list:
    return sorted(p for p in HP.glob("smime-*.eml")) if HP.is_dir() else []


@needs_hp
@pytest.mark.parametrize("path", _hp_samples(), ids=lambda p: p.name)
def test_header_protection_vectors_yield_the_protected_subject(path):
    ca = x509.load_pem_x509_certificate((HP / "sample-ca.pem").read_bytes())
    result = unwrap(path.read_bytes(), [_bob()], trust_roots=[ca], at=AT_2020)
    assert result.layers
    innermost = Entity.parse(result.layers[-1].entity).header("subject").get("subject")
    expected_file = (
        path.with_suffix(".inner.inner") if path.with_suffix(".inner.inner").exists() else path.with_suffix(".inner")
    )
    if expected_file.exists():
        expected = Entity.parse(expected_file.read_bytes()).header("subject").get("subject")
    else:
        expected = Entity.parse(path.read_bytes()).header("subject").get("subject")
    assert innermost == expected
    assert innermost != "..."
    for layer in result.layers:
        if hasattr(layer, "verification"):
            assert layer.verification.verdict == "valid", layer.verification.signer.trust_problem
