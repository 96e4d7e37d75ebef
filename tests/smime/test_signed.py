"""SignedData: signature math over exact bytes, the attributes we send, and trust verdicts."""

import datetime

import pytest
from asn1crypto import cms

from gateway.smime import (
    Digest,
    MalformedCms,
    SignatureInvalid,
    SignatureScheme,
    SignerNotTrusted,
    SmimeError,
    sign,
    verify,
)

CONTENT = b"Content-Type: text/plain\r\n\r\nI agree to the contract.\r\n"


@pytest.mark.parametrize("detached", [True, False])
@pytest.mark.parametrize("digest", list(Digest))
@pytest.mark.parametrize(
    ("who", "scheme"),
    [("alice", SignatureScheme.RSA_PKCS1V15), ("alice", SignatureScheme.RSA_PSS), ("carol", None)],
)
def test_sign_then_verify(pki, at, detached, digest, who, scheme):
    holder = getattr(pki, who)
    der = sign(CONTENT, holder.identity, detached=detached, digest=digest, scheme=scheme or "rsassa_pkcs1v15")
    result = verify(der, CONTENT if detached else None, trust_roots=pki.roots, at=at)
    assert result.verdict == "valid", (result.signer.problem, result.signer.trust_problem)
    assert result.content == CONTENT
    assert result.detached is detached
    assert result.signer.certificate == holder.certificate
    assert result.signer.digest_algorithm == digest.value
    # The chain travels with the signature.
    assert pki.intermediate.certificate in result.certificates
    assert [c.subject for c in result.signer.path] == [
        holder.certificate.subject,
        pki.intermediate.certificate.subject,
        pki.root.certificate.subject,
    ]


def test_signed_attributes_are_the_smime_ones(pki):
    when = datetime.datetime(2026, 11, 2, 10, 0, 0, tzinfo=datetime.UTC)
    der = sign(CONTENT, pki.alice.identity, signing_time=when)
    signer = cms.ContentInfo.load(der)["content"]["signer_infos"][0]
    types = [a["type"].native for a in signer["signed_attrs"]]
    assert set(types) == {"content_type", "signing_time", "message_digest", "smime_capabilities", "encrypt_key_pref"}
    assert verify(der, CONTENT).signer.signing_time == when
    caps = next(a for a in signer["signed_attrs"] if a["type"].native == "smime_capabilities")
    assert caps["values"][0][0]["capability_id"].native == "aes256_gcm"


def test_tampered_content_is_invalid_with_reason(pki, at):
    der = sign(CONTENT, pki.alice.identity)
    result = verify(der, CONTENT.replace(b"agree", b"refuse"), trust_roots=pki.roots, at=at)
    assert result.verdict == "invalid"
    assert "digest mismatch" in result.signer.problem
    with pytest.raises(SignatureInvalid):
        result.raise_for_verdict()


def test_tampered_signature_is_invalid(pki):
    der = bytearray(sign(CONTENT, pki.alice.identity))
    signature = bytes(cms.ContentInfo.load(bytes(der))["content"]["signer_infos"][0]["signature"].native)
    at = der.find(signature)
    der[at + 10] ^= 0xFF
    result = verify(bytes(der), CONTENT)
    assert result.verdict == "invalid"
    assert "signature does not match" in result.signer.problem


def test_trust_is_not_assumed(pki):
    result = verify(sign(CONTENT, pki.alice.identity), CONTENT)
    assert result.signature_valid
    assert result.signer.trusted is None
    assert result.verdict == "untrusted"
    with pytest.raises(SignerNotTrusted):
        result.raise_for_verdict()
    result.raise_for_verdict(require_trust=False)


@pytest.mark.parametrize(
    ("who", "reason"),
    [("expired", "expired"), ("server_only", "emailProtection"), ("stranger", "no path")],
)
def test_untrusted_signers(pki, at, who, reason):
    result = verify(sign(CONTENT, getattr(pki, who).identity), CONTENT, trust_roots=pki.roots, at=at)
    assert result.signature_valid
    assert result.verdict == "untrusted"
    assert reason.lower() in result.signer.trust_problem.lower()


def test_validation_time_is_honoured(pki):
    der = sign(CONTENT, pki.alice.identity)
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=4000)
    result = verify(der, CONTENT, trust_roots=pki.roots, at=later)
    assert result.verdict == "untrusted"


def test_detached_signature_needs_its_content(pki):
    with pytest.raises(MalformedCms, match="without the signed content"):
        verify(sign(CONTENT, pki.alice.identity), None)


def test_every_truncation_fails_with_a_codec_error(pki):
    der = sign(CONTENT, pki.carol.identity, detached=False)
    for cut in range(0, len(der), 11):
        with pytest.raises(SmimeError):
            verify(der[:cut]).raise_for_verdict(require_trust=False)
