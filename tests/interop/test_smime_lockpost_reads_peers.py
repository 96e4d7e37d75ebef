"""What OpenSSL, NSS and gpgsm write (every cipher and key type each supports), read by Lockpost."""

import pytest

from gateway.smime import unwrap
from tests.interop.peers import as_message, as_multipart_signed

ENTITY = b"Content-Type: text/plain; charset=us-ascii\r\n\r\nWritten by a peer.  \r\nSecond line.\r\n"
HEADERS = b"From: a peer <peer@example.test>\r\nSubject: from a peer\r\n"


def _read(message: bytes, pki, *holders):
    return unwrap(message, [h.identity for h in holders], trust_roots=pki.roots)


# ---------------------------------------------------------------- OpenSSL


@pytest.mark.parametrize(
    ("flag", "cipher"),
    [
        ("-aes128", "aes128_cbc"),
        ("-aes192", "aes192_cbc"),
        ("-aes256", "aes256_cbc"),
        ("-des3", "tripledes_3key"),
        ("-aes-128-gcm", "aes128_gcm"),
        ("-aes-256-gcm", "aes256_gcm"),
    ],
)
@pytest.mark.parametrize("recipient", ["bob", "bob-oaep", "carol"])
def test_openssl_encrypted(openssl, pki, flag, cipher, recipient):
    holder = pki.carol if recipient == "carol" else pki.bob
    out = openssl.encrypt(HEADERS + ENTITY, [holder], cipher=flag, oaep=recipient.endswith("oaep"))
    result = _read(HEADERS + out, pki, pki.alice, holder)
    details = result.decrypted.details
    assert details.cipher == cipher
    assert details.key_encryption == {"bob": "rsaes_pkcs1v15", "bob-oaep": "rsaes_oaep"}.get(
        recipient, details.key_encryption
    )
    if recipient == "carol":
        assert details.key_encryption.startswith("ecdh:")
    assert b"Written by a peer.  \r\nSecond line.\r\n" in result.message


def test_openssl_mixed_recipients(openssl, pki):
    out = openssl.encrypt(ENTITY, [pki.bob, pki.carol, pki.alice])
    for holder in (pki.alice, pki.bob, pki.carol):
        result = _read(out, pki, holder)
        assert result.decrypted.details.identity.certificate == holder.certificate
        assert b"Written by a peer." in result.message


@pytest.mark.parametrize("detached", [True, False], ids=["detached", "opaque"])
@pytest.mark.parametrize(
    ("signer", "md", "pss"),
    [
        ("alice", "sha256", False),
        ("alice", "sha384", False),
        ("alice", "sha512", True),
        ("carol", "sha256", False),
        ("carol", "sha512", False),
    ],
    ids=["rsa-sha256", "rsa-sha384", "pss-sha512", "ecdsa-sha256", "ecdsa-sha512"],
)
def test_openssl_signed(openssl, pki, detached, signer, md, pss):
    holder = getattr(pki, signer)
    out = openssl.sign(ENTITY, holder, detached=detached, md=md, pss=pss)
    verification = _read(HEADERS + out, pki).verified.verification
    assert verification.verdict == "valid", (verification.signer.problem, verification.signer.trust_problem)
    assert verification.signer.certificate == holder.certificate
    assert verification.signer.digest_algorithm == md
    assert verification.content == ENTITY
    tampered = (HEADERS + out).replace(b"Second line.", b"Second Line.")
    if detached:  # opaque content is base64 inside the CMS: tamper there instead
        assert _read(tampered, pki).verified.verification.verdict == "invalid"


# ---------------------------------------------------------------- NSS


def test_nss_encrypted(nss, pki):
    nss.add_certificate(pki.bob)
    nss.add_certificate(pki.alice)
    der = nss.encrypt(ENTITY, [pki.bob.email, pki.alice.email])
    result = _read(as_message(der, "enveloped-data", HEADERS), pki, pki.bob)
    assert result.decrypted.details.recipient_count == 2
    assert b"Written by a peer." in result.message


@pytest.mark.parametrize("detached", [True, False], ids=["detached", "opaque"])
@pytest.mark.parametrize(("signer", "hash_name"), [("alice", "SHA256"), ("alice", "SHA512"), ("carol", "SHA384")])
def test_nss_signed(nss, pki, detached, signer, hash_name):
    holder = getattr(pki, signer)
    nss.add_identity(holder)
    der = nss.sign(ENTITY, holder.name, detached=detached, hash_name=hash_name)
    message = as_multipart_signed(ENTITY, der) if detached else as_message(der, "signed-data")
    verification = _read(message, pki).verified.verification
    assert verification.verdict == "valid", (verification.signer.problem, verification.signer.trust_problem)
    assert verification.signer.certificate == holder.certificate
    assert verification.signer.digest_algorithm == hash_name.lower()
    assert verification.signer.signing_time is not None


# ---------------------------------------------------------------- gpgsm


@pytest.mark.parametrize(
    ("algo", "cipher"), [("AES", "aes128_cbc"), ("AES256", "aes256_cbc"), ("3DES", "tripledes_3key")]
)
def test_gpgsm_encrypted(gpgsm, pki, algo, cipher):
    gpgsm.add_certificate(pki.bob)
    der = gpgsm.encrypt(ENTITY, [pki.bob.email], cipher=algo)
    result = _read(as_message(der, "enveloped-data", HEADERS), pki, pki.bob)
    assert result.decrypted.details.cipher == cipher
    assert b"Written by a peer." in result.message


@pytest.mark.parametrize("detached", [True, False], ids=["detached", "opaque"])
def test_gpgsm_signed(gpgsm, pki, detached):
    gpgsm.add_identity(pki.alice)
    der = gpgsm.sign(ENTITY, pki.alice.email, detached=detached)
    message = as_multipart_signed(ENTITY, der) if detached else as_message(der, "signed-data")
    verification = _read(message, pki).verified.verification
    assert verification.verdict == "valid", (verification.signer.problem, verification.signer.trust_problem)
    assert verification.signer.certificate == pki.alice.certificate
