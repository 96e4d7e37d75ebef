"""Costly steps happen once: path validation per signer, certificate parsing per certificate."""

from ca import validation
from gateway.smime import sign_and_encrypt_message, sign_message, unwrap, verify_message
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
