"""Costly steps happen once: path validation per signer, certificate parsing per certificate."""

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtensionOID, NameOID

from ca import validation
from gateway.smime import Identity, sign_and_encrypt_message, sign_message, unwrap, verify_message
from gateway.smime.keys import facts, load_certificate


def _count_validations(monkeypatch) -> list:
    calls = []
    real = validation.validate_path

    def counting(cert, **kwargs):
        calls.append(cert)
        return real(cert, **kwargs)

    monkeypatch.setattr(validation, "validate_path", counting)
    return calls


def test_one_path_validation_per_signer(pki, at, message, monkeypatch):
    calls = _count_validations(monkeypatch)
    # Triple-wrapped: signed, encrypted, signed again (two signers, one envelope).
    inner = sign_and_encrypt_message(message, pki.alice.identity, [pki.bob.certificate])
    triple = sign_message(inner, pki.carol.identity)
    result = unwrap(triple, [pki.bob.identity], trust_roots=pki.roots, at=at)
    assert [layer.verification.verdict for layer in result.layers if hasattr(layer, "verification")] == [
        "valid",
        "valid",
    ]
    assert calls == [pki.carol.certificate, pki.alice.certificate]


def test_no_path_validation_without_trust_roots(pki, message, monkeypatch):
    calls = _count_validations(monkeypatch)
    result = verify_message(sign_message(message, pki.alice.identity))
    assert result.verification.signer.trusted is None
    assert calls == []


def test_certificates_in_signatures_are_parsed_once(pki, message):
    signed = sign_message(message, pki.alice.identity)
    first = verify_message(signed).verification.certificates
    again = verify_message(signed).verification.certificates
    assert [a is b for a, b in zip(first, again, strict=True)] == [True] * len(first)
    assert load_certificate.cache_info().hits >= len(first)
    assert facts(pki.alice.certificate) is facts(first[first.index(pki.alice.certificate)])


def test_a_damaged_extension_on_another_certificate_does_not_break_verification(pki, message):
    # Cached certificate facts read no extensions: a certificate the signer merely
    # carries along may have one that cryptography cannot parse.
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "damaged")])
    damaged = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC))
        .not_valid_after(datetime.datetime(2036, 1, 1, tzinfo=datetime.UTC))
        .add_extension(x509.UnrecognizedExtension(ExtensionOID.SUBJECT_KEY_IDENTIFIER, b"\x01\x02"), critical=False)
        .sign(key, hashes.SHA256())
    )
    with pytest.raises(ValueError, match=r"(?i)parse|asn1|error"):
        _ = damaged.extensions
    alice = pki.alice.identity
    signer = Identity(alice.certificate, alice.key, (*alice.chain, damaged))
    result = verify_message(sign_message(message, signer))
    assert result.verification.signature_valid
    assert damaged in result.verification.certificates
