"""PKCS#12 export. Modern (PBES2, AES-256, SHA-256 MAC) by default; legacy
(3DES, SHA-1 MAC) for old Windows, macOS and gpgsm, which reject the modern form."""

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import PrivateFormat, pkcs12


def _encryption(password, legacy):
    builder = PrivateFormat.PKCS12.encryption_builder()
    if legacy:
        builder = builder.key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC).hmac_hash(hashes.SHA1())  # noqa: S303 - what old clients read
    else:
        builder = builder.key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC).hmac_hash(hashes.SHA256())
    return builder.kdf_rounds(50000).build(password.encode())


def export(key, certificate, chain=(), password="", friendly_name="", legacy=False):
    """PKCS#12 bytes holding the key, its certificate and the chain above it.
    `certificate` and `chain` are cryptography x509 objects."""
    if not password:
        raise ValueError("a PKCS#12 file always gets a password")
    return pkcs12.serialize_key_and_certificates(
        (friendly_name or "").encode() or None, key, certificate, list(chain), _encryption(password, legacy)
    )
