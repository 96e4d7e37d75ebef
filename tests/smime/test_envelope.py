"""EnvelopedData / AuthEnvelopedData: what Lockpost encrypts, Lockpost decrypts, for every option."""

import pytest

from gateway.smime import (
    ContentCipher,
    DecryptionFailed,
    KeyTransport,
    MalformedCms,
    NoMatchingRecipient,
    SmimeError,
    decrypt,
    encrypt,
)
from gateway.smime.keys import Identity

CONTENT = b"Content-Type: text/plain\r\n\r\nsecret figures\r\n"


@pytest.mark.parametrize("cipher", list(ContentCipher))
@pytest.mark.parametrize("transport", list(KeyTransport))
def test_rsa_recipient_reads_every_cipher(pki, cipher, transport):
    der = encrypt(CONTENT, [pki.bob.certificate], cipher=cipher, key_transport=transport)
    result = decrypt(der, [pki.bob.identity])
    assert result.content == CONTENT
    assert result.cipher == cipher.value
    assert result.key_encryption == transport.value
    assert result.authenticated == cipher.authenticated


@pytest.mark.parametrize("cipher", list(ContentCipher))
def test_ec_recipient_gets_key_agreement(pki, cipher):
    der = encrypt(CONTENT, [pki.carol.certificate], cipher=cipher)
    result = decrypt(der, [pki.carol.identity])
    assert result.content == CONTENT
    assert result.key_encryption == "ecdh:1.3.132.1.11.1"


def test_default_is_aes256_cbc_with_rsa_v15(pki):
    result = decrypt(encrypt(CONTENT, [pki.bob.certificate]), [pki.bob.identity])
    assert (result.cipher, result.key_encryption) == ("aes256_cbc", "rsaes_pkcs1v15")


def test_mixed_recipients_each_find_their_own(pki):
    der = encrypt(CONTENT, [pki.alice.certificate, pki.carol.certificate, pki.bob.certificate])
    for holder in (pki.alice, pki.bob, pki.carol):
        result = decrypt(der, [holder.identity])
        assert result.content == CONTENT
        assert result.identity.certificate == holder.certificate
        assert result.recipient_count == 3


def test_picks_the_matching_identity_among_several(pki):
    der = encrypt(CONTENT, [pki.carol.certificate])
    result = decrypt(der, [pki.alice.identity, pki.bob.identity, pki.carol.identity])
    assert result.identity.certificate == pki.carol.certificate


def test_not_addressed_to_us(pki):
    der = encrypt(CONTENT, [pki.bob.certificate])
    with pytest.raises(NoMatchingRecipient):
        decrypt(der, [pki.alice.identity])


@pytest.mark.parametrize("transport", list(KeyTransport))
def test_right_certificate_wrong_key_fails_cleanly(pki, transport):
    der = encrypt(CONTENT, [pki.bob.certificate], key_transport=transport)
    impostor = Identity(pki.bob.certificate, pki.alice.key)
    with pytest.raises(DecryptionFailed):
        decrypt(der, [impostor])


def test_gcm_detects_tampering(pki):
    der = bytearray(encrypt(CONTENT, [pki.bob.certificate], cipher=ContentCipher.AES256_GCM))
    der[-30] ^= 0x01  # inside the ciphertext or the tag
    with pytest.raises(DecryptionFailed):
        decrypt(bytes(der), [pki.bob.identity])


@pytest.mark.parametrize("junk", [b"", b"\x00", b"garbage that is not DER", b"\x30\x80" + b"\x00" * 10])
def test_garbage_is_malformed(pki, junk):
    with pytest.raises(MalformedCms):
        decrypt(junk, [pki.bob.identity])


def test_every_truncation_fails_with_a_codec_error(pki):
    der = encrypt(CONTENT, [pki.bob.certificate, pki.carol.certificate])
    for cut in range(0, len(der), 7):
        with pytest.raises(SmimeError):
            decrypt(der[:cut], [pki.bob.identity, pki.carol.identity])


def test_signed_data_is_not_enveloped(pki):
    from gateway.smime import sign

    with pytest.raises(MalformedCms, match="expected"):
        decrypt(sign(CONTENT, pki.alice.identity), [pki.alice.identity])
