"""Who we are: a certificate with the private key that goes with it.

The codec never touches key material directly; it asks the key to decrypt
(RSA key transport), to exchange (ECDH key agreement) or to sign. A
pyca/cryptography private key already speaks this protocol; an HSM-held key
(python-pkcs11) only needs a small adapter with the same three methods.
"""

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import AsymmetricPadding
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12


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
    """A fresh asn1crypto view (callers may touch it; the cached facts stay bytes)."""
    return asn1_x509.Certificate.load(facts(cert).der)


def from_asn1(cert: asn1_x509.Certificate) -> x509.Certificate:
    return load_certificate(cert.dump())


@functools.lru_cache(maxsize=1024)
def load_certificate(der: bytes) -> x509.Certificate:
    """Certificates in signatures repeat from message to message: parse each DER once."""
    return x509.load_der_x509_certificate(der)


@functools.lru_cache(maxsize=1024)
def subject_key_identifier(cert: x509.Certificate) -> bytes | None:
    # Apart from ``facts``: a certificate with a damaged extension raises here, and
    # only where a SubjectKeyIdentifier is asked for (as before the cache).
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return None


@dataclass(frozen=True)
class CertFacts:
    """What the codec reads from a certificate, worked out once per certificate.

    Only bytes and plain values: asn1crypto objects parse lazily and are not
    safe to share between threads.
    """

    der: bytes
    issuer: bytes  # DER Name, as in the certificate
    serial: int


@functools.lru_cache(maxsize=1024)
def facts(cert: x509.Certificate) -> CertFacts:
    # Keyed by the certificate: cryptography hashes and compares it by its DER.
    der = cert.public_bytes(Encoding.DER)
    a = asn1_x509.Certificate.load(der)
    return CertFacts(der=der, issuer=a.issuer.dump(), serial=a.serial_number)


@functools.lru_cache(maxsize=1024)
def issuer_and_serial(cert: x509.Certificate) -> bytes:
    """DER IssuerAndSerialNumber naming ``cert``, as asn1crypto encodes it (for what we write)."""
    a = asn1_x509.Certificate.load(facts(cert).der)
    return cms.IssuerAndSerialNumber({"issuer": a.issuer, "serial_number": a.serial_number}).dump()


def matches_issuer_and_serial(ias: cms.IssuerAndSerialNumber, cert: x509.Certificate) -> bool:
    """Does a received IssuerAndSerialNumber name ``cert``?

    Same DER is the common case and cheap; otherwise asn1crypto compares the
    names as RFC 5280 says (case, spacing, string types), which is slow.
    """
    mine = facts(cert)
    if ias["serial_number"].native != mine.serial:
        return False
    if ias["issuer"].dump() == mine.issuer:
        return True
    return ias["issuer"] == asn1_x509.Name.load(mine.issuer)
