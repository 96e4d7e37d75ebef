"""EnvelopedData (RFC 5652) and AuthEnvelopedData (RFC 5083/5084): encrypt and decrypt.

``encrypt`` writes what the chosen cipher needs: CBC ciphers give
EnvelopedData, GCM gives AuthEnvelopedData. ``decrypt`` reads both, plus
3DES (and RC2, for very old mail), for any mix of RSA and EC recipients.
"""

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from asn1crypto import algos, cms, core
from cryptography import x509

from . import _hazmat, recipients
from ._asn1 import (
    der_explicit,
    der_octet_string,
    der_sequence,
    der_set_of,
    der_small_int,
    der_tlv,
    guarded,
    load_content_info,
)
from .algorithms import DEFAULT_CIPHER, DEFAULT_KEY_TRANSPORT, ContentCipher, KeyTransport
from .errors import DecryptionFailed, MalformedCms, UnsupportedAlgorithm
from .keys import Identity


class _GcmParameters(core.Sequence):
    """RFC 5084: GCMParameters."""

    _fields = [("aes_nonce", core.OctetString), ("aes_icv_len", core.Integer, {"default": 12})]


@dataclass(frozen=True)
class Decrypted:
    content: bytes
    cipher: str  # e.g. "aes256_cbc"
    key_encryption: str  # e.g. "rsaes_pkcs1v15", "rsaes_oaep", "ecdh:1.3.132.1.11.1"
    identity: Identity  # whose key opened it
    recipient_count: int
    authenticated: bool  # AuthEnvelopedData: integrity checked by the cipher


def encrypt(
    content: bytes,
    certificates: Sequence[x509.Certificate],
    *,
    cipher: ContentCipher | str = DEFAULT_CIPHER,
    key_transport: KeyTransport | str = DEFAULT_KEY_TRANSPORT,
) -> bytes:
    """Encrypt ``content`` to every certificate; return DER ContentInfo.

    RSA certificates get key transport, EC ones ECDH key agreement. Mixing
    both in one message is legal, but NSS rejects such a message whole:
    callers should group recipients by key type.
    """
    if not certificates:
        raise ValueError("encrypt needs at least one recipient certificate")
    cipher = ContentCipher(cipher)
    key_transport = KeyTransport(key_transport)
    key_len = _hazmat.GCM_CIPHERS[cipher.value] if cipher.authenticated else _hazmat.CBC_CIPHERS[cipher.value][0]
    cek = _hazmat.random_bytes(key_len)
    infos = der_set_of([recipients.for_certificate(cert, cek, key_transport) for cert in certificates])

    # Assembled by hand around the ciphertext (see _asn1): asn1crypto would copy it several times.
    if cipher.authenticated:
        nonce = _hazmat.random_bytes(12)
        ciphertext, tag = _hazmat.gcm_encrypt(cek, nonce, content, None)
        params = der_sequence(der_octet_string(nonce), der_small_int(16))  # GCMParameters, 16-byte tag
        eci = _encrypted_content_info(cipher, params, ciphertext)
        body = der_sequence(der_small_int(0), infos, eci, der_octet_string(tag))  # RFC 5083: always v0
        return der_sequence(_oid("authenticated_enveloped_data"), der_explicit(0, body))

    iv = _hazmat.random_bytes(_hazmat.CBC_CIPHERS[cipher.value][1])
    ciphertext = _hazmat.cbc_encrypt(cipher.value, cek, iv, content)
    eci = _encrypted_content_info(cipher, der_octet_string(iv), ciphertext)
    # RFC 5652 6.1: version 2 as soon as any RecipientInfo is not a v0 ktri.
    version = 2 if any(recipients.is_key_agreement(cert) for cert in certificates) else 0
    body = der_sequence(der_small_int(version), infos, eci)
    return der_sequence(_oid("enveloped_data"), der_explicit(0, body))


@functools.cache
def _oid(content_type: str) -> bytes:
    return cms.ContentType(content_type).dump()


@functools.cache
def _cipher_oid(cipher: ContentCipher) -> bytes:
    return algos.EncryptionAlgorithmId(cipher.value).dump()


def _encrypted_content_info(cipher: ContentCipher, parameters: bytes, ciphertext: bytes) -> bytes:
    return der_sequence(
        _oid("data"),
        der_sequence(_cipher_oid(cipher), parameters),
        der_tlv(0x80, ciphertext),  # [0] IMPLICIT OCTET STRING, written directly (one copy of it)
    )


def _content_key_length(algorithm: algos.EncryptionAlgorithm) -> int:
    name = algorithm["algorithm"].native
    if name in _hazmat.CBC_CIPHERS:
        return _hazmat.CBC_CIPHERS[name][0]
    if name in _hazmat.GCM_CIPHERS:
        return _hazmat.GCM_CIPHERS[name]
    if name == "rc2":
        return 0  # variable; taken from what the key transport yields
    raise UnsupportedAlgorithm(f"content cipher {name!r}")


def _open_recipient(recipient_infos, identities: list[Identity], cek_len: int) -> tuple[bytes, Identity, str]:
    ri, identity, index = recipients.find(recipient_infos, identities)
    if ri.name == "ktri":
        cek = recipients.open_key_transport(ri.chosen, identity, cek_len)
    else:
        cek = recipients.open_key_agreement(ri.chosen, index, identity)
    return cek, identity, recipients.describe(ri)


@guarded
def decrypt(der: bytes, identities: Iterable[Identity]) -> Decrypted:
    """Decrypt EnvelopedData or AuthEnvelopedData with whichever identity it is addressed to."""
    identities = list(identities)
    kind, info = load_content_info(der, "enveloped_data", "authenticated_enveloped_data")
    body = info["content"]
    authenticated = kind == "authenticated_enveloped_data"
    eci = body["auth_encrypted_content_info" if authenticated else "encrypted_content_info"]
    algorithm = eci["content_encryption_algorithm"]
    name = algorithm["algorithm"].native
    cek_len = _content_key_length(algorithm)
    cek, identity, how = _open_recipient(body["recipient_infos"], identities, cek_len)
    ciphertext = eci["encrypted_content"].native
    if ciphertext is None:
        raise MalformedCms("the encrypted content is missing (detached content is not supported)")

    if authenticated:
        if name not in _hazmat.GCM_CIPHERS:
            raise UnsupportedAlgorithm(f"AuthEnvelopedData with {name!r}")
        params = _GcmParameters.load(algorithm["parameters"].dump())
        auth_attrs = body["auth_attrs"]
        # RFC 5083: authenticated attributes are MACed in their DER SET form.
        aad = b"\x31" + auth_attrs.dump()[1:] if not isinstance(auth_attrs, core.Void) else None
        content = _hazmat.gcm_decrypt(cek, params["aes_nonce"].native, ciphertext, body["mac"].native, aad)
    elif name in _hazmat.CBC_CIPHERS:
        content = _hazmat.cbc_decrypt(name, cek, algorithm["parameters"].native, ciphertext)
    elif name == "rc2":
        iv = algorithm["parameters"]["iv"].native
        content = _hazmat.rc2_cbc_decrypt(cek, iv, ciphertext)
    else:
        raise UnsupportedAlgorithm(f"content cipher {name!r}")
    if not content and not ciphertext:
        raise DecryptionFailed("empty encrypted content")
    return Decrypted(
        content=content,
        cipher=name,
        key_encryption=how,
        identity=identity,
        recipient_count=len(body["recipient_infos"]),
        authenticated=authenticated,
    )
