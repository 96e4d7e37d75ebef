"""The algorithm choices a caller can make, and their names on the wire.

Values are asn1crypto's names, so they can be stored in settings as plain
strings and handed straight to the encoder.
"""

from enum import StrEnum

from cryptography.hazmat.primitives import hashes

from .errors import UnsupportedAlgorithm


class ContentCipher(StrEnum):
    """Bulk cipher of an encrypted message. The GCM ones make AuthEnvelopedData."""

    AES128_CBC = "aes128_cbc"
    AES192_CBC = "aes192_cbc"
    AES256_CBC = "aes256_cbc"
    AES128_GCM = "aes128_gcm"
    AES256_GCM = "aes256_gcm"

    @property
    def authenticated(self) -> bool:
        return self.value.endswith("_gcm")


class KeyTransport(StrEnum):
    """How the content key reaches an RSA recipient."""

    RSA_PKCS1V15 = "rsaes_pkcs1v15"
    RSA_OAEP_SHA256 = "rsaes_oaep"


class Digest(StrEnum):
    SHA256 = "sha256"
    SHA384 = "sha384"
    SHA512 = "sha512"


class SignatureScheme(StrEnum):
    """RSA keys sign with PKCS#1 v1.5 (default) or PSS; EC keys always with ECDSA."""

    RSA_PKCS1V15 = "rsassa_pkcs1v15"
    RSA_PSS = "rsassa_pss"


DEFAULT_CIPHER = ContentCipher.AES256_CBC
DEFAULT_KEY_TRANSPORT = KeyTransport.RSA_PKCS1V15
DEFAULT_DIGEST = Digest.SHA256

# Digests accepted when reading. MD5 is refused outright; SHA-1 is still
# what Outlook 15 signs with, so it verifies (the result names it).
_HASHES = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}

# RFC 8551 section 3.5.3 names for the micalg parameter.
MICALG = {"sha1": "sha-1", "sha224": "sha-224", "sha256": "sha-256", "sha384": "sha-384", "sha512": "sha-512"}


def hash_for(name: str) -> hashes.HashAlgorithm:
    try:
        return _HASHES[name]()
    except KeyError:
        raise UnsupportedAlgorithm(f"digest algorithm {name!r}")
