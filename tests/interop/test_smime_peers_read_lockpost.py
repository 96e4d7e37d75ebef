"""What Lockpost writes, read by OpenSSL, NSS (Thunderbird's library) and gpgsm.

The default (AES-256-CBC, RSA PKCS#1 v1.5, detached SHA-256) is read by all
three; each opt-in algorithm by the peers that implement it.
"""

import datetime

import pytest

from gateway.smime import ContentCipher, Digest, KeyTransport, encrypt_message, sign_and_encrypt_message, sign_message
from tests.interop.peers import cms_of, detached_parts, good_gpgsm

MESSAGE = (
    b"From: Alice <alice@example.test>\r\nTo: Bob <bob@example.test>\r\nSubject: figures\r\n"
    b"Date: Mon, 2 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=us-ascii\r\n\r\nThe figures are final.  \r\n\r\n"
)
SECRET = b"The figures are final."


CBC = [ContentCipher.AES256_CBC, ContentCipher.AES128_CBC, ContentCipher.AES192_CBC]


# ---------------------------------------------------------------- encryption


@pytest.mark.parametrize("cipher", CBC)
def test_openssl_decrypts(openssl, pki, cipher):
    out = encrypt_message(MESSAGE, [pki.bob.certificate], cipher=cipher)
    assert SECRET in openssl.decrypt(out, pki.bob)


@pytest.mark.parametrize("cipher", CBC)
def test_nss_decrypts(nss, pki, cipher):
    nss.add_identity(pki.bob)
    out = encrypt_message(MESSAGE, [pki.bob.certificate, pki.alice.certificate], cipher=cipher)
    assert SECRET in nss.decrypt(cms_of(out))


@pytest.mark.parametrize("cipher", CBC)
def test_gpgsm_decrypts(gpgsm, pki, cipher):
    gpgsm.add_identity(pki.bob)
    out = encrypt_message(MESSAGE, [pki.alice.certificate, pki.bob.certificate], cipher=cipher)
    assert SECRET in gpgsm.decrypt(cms_of(out))


@pytest.mark.parametrize("cipher", [ContentCipher.AES256_CBC, ContentCipher.AES128_GCM, ContentCipher.AES256_GCM])
def test_openssl_reads_the_opt_in_algorithms(openssl, pki, cipher):
    """OAEP, GCM (AuthEnvelopedData) and ECDH key agreement: only OpenSSL reads them today."""
    oaep = encrypt_message(MESSAGE, [pki.bob.certificate], cipher=cipher, key_transport=KeyTransport.RSA_OAEP_SHA256)
    assert SECRET in openssl.decrypt(oaep, pki.bob)
    ecdh = encrypt_message(MESSAGE, [pki.carol.certificate], cipher=cipher)
    assert SECRET in openssl.decrypt(ecdh, pki.carol)


def test_openssl_reads_mixed_rsa_and_ec_recipients(openssl, pki):
    out = encrypt_message(MESSAGE, [pki.bob.certificate, pki.carol.certificate])
    assert SECRET in openssl.decrypt(out, pki.bob)
    assert SECRET in openssl.decrypt(out, pki.carol)


# ---------------------------------------------------------------- signatures


@pytest.mark.parametrize("detached", [True, False], ids=["detached", "opaque"])
@pytest.mark.parametrize(
    ("signer", "digest", "scheme"),
    [
        ("alice", Digest.SHA256, "rsassa_pkcs1v15"),
        ("alice", Digest.SHA512, "rsassa_pkcs1v15"),
        ("alice", Digest.SHA384, "rsassa_pss"),
        ("carol", Digest.SHA256, "rsassa_pkcs1v15"),
    ],
    ids=["rsa-sha256", "rsa-sha512", "pss-sha384", "ecdsa-sha256"],
)
def test_openssl_and_nss_verify(openssl, nss, pki, detached, signer, digest, scheme):
    out = sign_message(MESSAGE, getattr(pki, signer).identity, detached=detached, digest=digest, scheme=scheme)
    assert SECRET in openssl.verify(out)
    nss.add_certificate(pki.bob)  # a database with the root trusted for S/MIME
    if detached:
        content, signature = detached_parts(out)
        statuses, _ = nss.verify(signature, content)
    else:
        statuses, content = nss.verify(cms_of(out))
    assert statuses == ["GoodSignature"]
    assert SECRET in content


@pytest.mark.parametrize("detached", [True, False], ids=["detached", "opaque"])
@pytest.mark.parametrize(("digest", "scheme"), [(Digest.SHA256, "rsassa_pkcs1v15"), (Digest.SHA256, "rsassa_pss")])
def test_gpgsm_verifies_rsa(gpgsm, pki, detached, digest, scheme):
    out = sign_message(MESSAGE, pki.alice.identity, detached=detached, digest=digest, scheme=scheme)
    if detached:
        content, signature = detached_parts(out)
        status, _ = gpgsm.verify(signature, content)
    else:
        status, content = gpgsm.verify(cms_of(out))
    assert good_gpgsm(status), status
    assert SECRET in content


def test_peers_see_tampering(openssl, nss, gpgsm, pki):
    out = sign_message(MESSAGE, pki.alice.identity)
    tampered = out.replace(b"final.", b"draft.")
    with pytest.raises(AssertionError):
        openssl.verify(tampered)
    content, signature = detached_parts(tampered)
    nss.add_certificate(pki.bob)
    assert nss.verify(signature, content)[0] == ["DigestMismatch"]
    assert "BADSIG" in gpgsm.verify(signature, content)[0]


# ---------------------------------------------------------------- signed and encrypted


def test_signed_and_encrypted_by_default_reads_everywhere(openssl, nss, gpgsm, pki):
    out = sign_and_encrypt_message(
        MESSAGE,
        pki.alice.identity,
        [pki.bob.certificate, pki.alice.certificate],
        signing_time=datetime.datetime.now(datetime.UTC),
    )
    inner = openssl.decrypt(out, pki.bob)
    assert SECRET in openssl.verify(b"Subject: x\r\n" + inner)

    nss.add_identity(pki.bob)
    inner = nss.decrypt(cms_of(out))
    content, signature = detached_parts(b"Subject: x\r\n" + inner)
    assert nss.verify(signature, content)[0] == ["GoodSignature"]

    gpgsm.add_identity(pki.bob)
    inner = gpgsm.decrypt(cms_of(out))
    content, signature = detached_parts(b"Subject: x\r\n" + inner)
    assert good_gpgsm(gpgsm.verify(signature, content)[0])
