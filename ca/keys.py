"""Private keys in the database, encrypted under the master key."""

import functools

from cryptography.hazmat.primitives import serialization
from django.conf import settings

from .sealing import seal, unseal

PURPOSE = "private-key"


def encrypt_private_key(key):
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return seal(der, settings.LOCKPOST_MASTER_KEY, PURPOSE)


def decrypt_private_key(sealed):
    return _loaded_key(bytes(sealed), settings.LOCKPOST_MASTER_KEY)


@functools.lru_cache(maxsize=256)
def _loaded_key(sealed, master_key):
    # Loading an RSA key checks it (p and q prime, d consistent), which
    # cost more than the signature: each key is loaded once per process.
    # Keyed by the sealed bytes, so a replaced key is loaded afresh; the key
    # stays only in this process's memory, never on disk unsealed.
    return serialization.load_der_private_key(unseal(sealed, master_key, PURPOSE), password=None)


def public_key_matches(private_key, certificate):
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return private_key.public_key().public_bytes(*spki) == certificate.public_key().public_bytes(*spki)


def private_key_for(cert):
    """The private key of a stored certificate, wherever it lives: decrypted
    from the database, or a handle on a key inside the token."""
    stored = cert.private_key
    if stored.token_label:
        from .hsm import token

        return token().key(bytes.fromhex(stored.token_key_id))
    return decrypt_private_key(stored.encrypted_pkcs8)
