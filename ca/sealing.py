"""Secrets at rest: AES-256-GCM under a key derived from the master key.
Each purpose ("private-key", "stored-body", ...) gets its own derived key, so
a ciphertext cannot be moved from one use to another."""

import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = b"\x01"
NONCE_SIZE = 12


class SealError(Exception):
    """The master key is missing, or a sealed value is damaged or was sealed
    under another key."""


def _key(master_key, purpose):
    if not master_key or len(master_key) < 16:
        raise SealError("LOCKPOST_MASTER_KEY is not set (or shorter than 16 characters)")
    secret = master_key.encode() if isinstance(master_key, str) else master_key
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"lockpost:" + purpose.encode()).derive(secret)


def seal(plaintext, master_key, purpose):
    nonce = os.urandom(NONCE_SIZE)
    return VERSION + nonce + AESGCM(_key(master_key, purpose)).encrypt(nonce, plaintext, VERSION)


def unseal(sealed, master_key, purpose):
    sealed = bytes(sealed)
    if not sealed.startswith(VERSION) or len(sealed) < 1 + NONCE_SIZE + 16:
        raise SealError("not a sealed value")
    nonce, body = sealed[1 : 1 + NONCE_SIZE], sealed[1 + NONCE_SIZE :]
    try:
        return AESGCM(_key(master_key, purpose)).decrypt(nonce, body, VERSION)
    except Exception:
        raise SealError("sealed value is damaged or was sealed under another master key") from None
