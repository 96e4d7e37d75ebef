"""HAZARDOUS: raw content ciphers, key wrap and KDF used inside CMS.

Nothing here checks who a key belongs to or whether an algorithm is wise;
callers in ``envelope.py`` and ``recipients.py`` decide that. Keep it small,
and keep it private to the codec.
"""

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.decrepit.ciphers.algorithms import RC2, TripleDES
from cryptography.hazmat.primitives import hashes, keywrap, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF

from .errors import DecryptionFailed, UnsupportedAlgorithm

# CBC content ciphers: asn1crypto name -> (key bytes, block bytes, cipher factory)
CBC_CIPHERS = {
    "aes128_cbc": (16, 16, algorithms.AES),
    "aes192_cbc": (24, 16, algorithms.AES),
    "aes256_cbc": (32, 16, algorithms.AES),
    "tripledes_3key": (24, 8, TripleDES),
}
GCM_CIPHERS = {"aes128_gcm": 16, "aes192_gcm": 24, "aes256_gcm": 32}
WRAP_KEY_BYTES = {"aes128_wrap": 16, "aes192_wrap": 24, "aes256_wrap": 32, "1.2.840.113549.1.9.16.3.6": 24}
TRIPLEDES_WRAP = "1.2.840.113549.1.9.16.3.6"  # id-alg-CMS3DESwrap: what OpenSSL pairs with -des3 for ECDH
_TRIPLEDES_WRAP_IV = bytes.fromhex("4adda22c79e82105")


def random_bytes(n: int) -> bytes:
    return os.urandom(n)


def cbc_encrypt(name: str, key: bytes, iv: bytes, plaintext: bytes) -> bytes:
    _, block, factory = CBC_CIPHERS[name]
    padder = padding.PKCS7(block * 8).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(factory(key), modes.CBC(iv)).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


def cbc_decrypt(name: str, key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    key_len, block, factory = CBC_CIPHERS[name]
    if len(key) != key_len or len(iv) != block or not ciphertext or len(ciphertext) % block:
        raise DecryptionFailed(f"{name}: wrong key, IV or ciphertext length")
    decryptor = Cipher(factory(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(block * 8).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        # A wrong content key almost always shows up here.
        raise DecryptionFailed(f"{name}: bad padding after decryption (wrong key or damaged content)")


def rc2_cbc_decrypt(key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    """RC2 read-only, for very old clients; effective key bits are taken from the key length."""
    decryptor = Cipher(RC2(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(64).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise DecryptionFailed("rc2: bad padding after decryption")


def gcm_encrypt(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes | None) -> tuple[bytes, bytes]:
    """Return (ciphertext, 16-byte tag)."""
    sealed = AESGCM(key).encrypt(nonce, plaintext, aad)
    return sealed[:-16], sealed[-16:]


def gcm_decrypt(key: bytes, nonce: bytes, ciphertext: bytes, tag: bytes, aad: bytes | None) -> bytes:
    if len(tag) != 16:
        # cryptography's AESGCM only checks full-length tags; shorter ones are weak anyway.
        raise UnsupportedAlgorithm(f"AES-GCM tag of {len(tag)} bytes (only 16 is accepted)")
    try:
        return AESGCM(key).decrypt(nonce, ciphertext + tag, aad)
    except InvalidTag:
        raise DecryptionFailed("AES-GCM authentication failed (content altered or wrong key)")


def aes_key_wrap(kek: bytes, key: bytes) -> bytes:
    return keywrap.aes_key_wrap(kek, key)


def aes_key_unwrap(kek: bytes, wrapped: bytes) -> bytes:
    try:
        return keywrap.aes_key_unwrap(kek, wrapped)
    except (keywrap.InvalidUnwrap, ValueError):
        raise DecryptionFailed("AES key unwrap failed (wrong key agreement result)")


def tripledes_key_unwrap(kek: bytes, wrapped: bytes) -> bytes:
    """RFC 3217 section 3.2 (read-only: we never write 3DES)."""
    if len(wrapped) != 40:
        raise DecryptionFailed("3DES key wrap: wrong length")

    def cbc(iv: bytes, data: bytes) -> bytes:
        d = Cipher(TripleDES(kek), modes.CBC(iv)).decryptor()
        return d.update(data) + d.finalize()

    temp2 = cbc(_TRIPLEDES_WRAP_IV, wrapped)[::-1]
    cek_icv = cbc(temp2[:8], temp2[8:])
    cek, icv = cek_icv[:-8], cek_icv[-8:]
    digest = hashes.Hash(hashes.SHA1())  # noqa: S303 (RFC 3217 fixes SHA-1 for the check value)
    digest.update(cek)
    if digest.finalize()[:8] != icv:
        raise DecryptionFailed("3DES key unwrap failed (wrong key agreement result)")
    return cek


def x963_kdf(hash_algorithm: hashes.HashAlgorithm, shared_secret: bytes, length: int, shared_info: bytes) -> bytes:
    return X963KDF(algorithm=hash_algorithm, length=length, sharedinfo=shared_info).derive(shared_secret)
