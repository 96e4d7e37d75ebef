"""Reading certificate files: PEM, DER, PKCS#7 (.p7b) and PKCS#12. Pure:
bytes in, certificates (DER) and private keys out."""

import re
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12


class UnreadableFile(ValueError):
    """Not a certificate file we know, or the password is wrong."""


@dataclass
class Bundle:
    certificates: list = field(default_factory=list)  # DER bytes
    keyed: list = field(default_factory=list)  # (private key, certificate DER)


def _der(cert):
    return cert.public_bytes(serialization.Encoding.DER)


def _from_pkcs12(data, password):
    try:
        p12 = pkcs12.load_pkcs12(data, password.encode() if password else None)
    except ValueError as exc:
        raise UnreadableFile(f"PKCS#12 could not be opened (wrong password?): {exc}") from None
    bundle = Bundle()
    if p12.cert is not None:
        bundle.certificates.append(_der(p12.cert.certificate))
        if p12.key is not None:
            bundle.keyed.append((p12.key, _der(p12.cert.certificate)))
    bundle.certificates += [_der(c.certificate) for c in p12.additional_certs]
    return bundle


PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.+?-----END \1-----", re.S)


def _from_pem(data, password):
    bundle = Bundle()
    keys = []
    for match in PEM_BLOCK.finditer(data):
        label, pem = match.group(1), match.group(0)
        if label in (b"CERTIFICATE", b"X509 CERTIFICATE"):
            bundle.certificates.append(_der(x509.load_pem_x509_certificate(pem)))
        elif label == b"PKCS7":
            bundle.certificates += [_der(c) for c in pkcs7.load_pem_pkcs7_certificates(pem)]
        elif label.endswith(b"PRIVATE KEY"):
            keys.append(serialization.load_pem_private_key(pem, password.encode() if password else None))
    if not bundle.certificates:
        raise UnreadableFile("no certificate in this PEM file")
    _pair_keys(bundle, keys)
    return bundle


def _pair_keys(bundle, keys):
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    by_public = {k.public_key().public_bytes(*spki): k for k in keys}
    for der in bundle.certificates:
        public = x509.load_der_x509_certificate(der).public_key().public_bytes(*spki)
        if public in by_public:
            bundle.keyed.append((by_public[public], der))


def read_bundle(data, password=None):
    """Every certificate (and private key) in one file, whatever its format."""
    data = bytes(data)
    stripped = data.lstrip()
    try:
        if stripped.startswith(b"-----BEGIN"):
            return _from_pem(stripped.replace(b"\r\n", b"\n"), password)
        try:
            return Bundle(certificates=[_der(x509.load_der_x509_certificate(data))])
        except ValueError:
            pass
        try:
            return Bundle(certificates=[_der(c) for c in pkcs7.load_der_pkcs7_certificates(data)])
        except ValueError:
            pass
    except (ValueError, TypeError) as exc:
        raise UnreadableFile(str(exc)) from None
    return _from_pkcs12(data, password)
