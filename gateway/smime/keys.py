"""Who we are: a certificate with the private key that goes with it.

The codec never touches key material directly; it asks the key to decrypt
(RSA key transport), to exchange (ECDH key agreement) or to sign. A
pyca/cryptography private key already speaks this protocol; an HSM-held key
(python-pkcs11) only needs a small adapter with the same three methods.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import AsymmetricPadding
from cryptography.hazmat.primitives.serialization import pkcs12


@runtime_checkable
class RsaDecryptionKey(Protocol):
    def decrypt(self, ciphertext: bytes, padding: AsymmetricPadding) -> bytes: ...


@runtime_checkable
class EcExchangeKey(Protocol):
    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes: ...


@runtime_checkable
class SigningKey(Protocol):
    # RSA keys: sign(data, padding, algorithm); EC keys: sign(data, ec.ECDSA(algorithm)).
    def sign(self, data: bytes, *args) -> bytes: ...


PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | RsaDecryptionKey | EcExchangeKey | SigningKey


@dataclass(frozen=True)
class Identity:
    """A certificate, its private key, and the chain to send along when signing."""

    certificate: x509.Certificate
    key: PrivateKey
    chain: Sequence[x509.Certificate] = field(default_factory=tuple)

    @property
    def is_ec(self) -> bool:
        return isinstance(self.certificate.public_key(), ec.EllipticCurvePublicKey)


def load_pkcs12(data: bytes, password: bytes | None) -> Identity:
    key, cert, extra = pkcs12.load_key_and_certificates(data, password)
    if key is None or cert is None:
        raise ValueError("PKCS#12 holds no key with its certificate")
    return Identity(certificate=cert, key=key, chain=tuple(extra or ()))


def to_asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    from cryptography.hazmat.primitives.serialization import Encoding

    return asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))


def from_asn1(cert: asn1_x509.Certificate) -> x509.Certificate:
    return x509.load_der_x509_certificate(cert.dump())


def subject_key_identifier(cert: x509.Certificate) -> bytes | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return None
