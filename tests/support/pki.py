"""A small certificate factory for tests: roots, intermediates and users
with whatever validity, key usage and extensions a test needs."""

import datetime
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ca.certinfo import KEY_USAGE_NAMES

NOW = datetime.datetime.now(datetime.UTC)
DAY = datetime.timedelta(days=1)

_KEYS = {}
# The KeyUsage constructor's arguments, in order.
KEY_USAGE_FLAGS = (*KEY_USAGE_NAMES, "encipher_only", "decipher_only")


def key_for(key_type, slot=0):
    """Keys are slow to make: tests reuse a few, by type and slot."""
    if (key_type, slot) not in _KEYS:
        if key_type == "p256":
            _KEYS[key_type, slot] = ec.generate_private_key(ec.SECP256R1())
        else:
            _KEYS[key_type, slot] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _KEYS[key_type, slot]


@dataclass
class Issued:
    cert: x509.Certificate
    key: object

    @property
    def der(self):
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def pem(self):
        return self.cert.public_bytes(serialization.Encoding.PEM)


def _key_usage(**flags):
    return x509.KeyUsage(**{n: flags.get(n, False) for n in KEY_USAGE_FLAGS})


def make(
    name,
    issuer=None,
    *,
    key_type="rsa",
    slot=0,
    ca=False,
    email=None,
    not_before=NOW - DAY,
    not_after=NOW + 365 * DAY,
    key_usage=None,
    eku=(ExtendedKeyUsageOID.EMAIL_PROTECTION,),
    crl_url=None,
    ocsp_url=None,
):
    """A certificate named `name`, signed by `issuer` (an Issued) or self-signed."""
    key = key_for(key_type, slot)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    signer = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False)
    )
    if ca:
        key_usage = key_usage or _key_usage(key_cert_sign=True, crl_sign=True, digital_signature=True)
    elif key_usage is None:
        rsa_key = key_type != "p256"
        key_usage = _key_usage(digital_signature=True, key_encipherment=rsa_key, key_agreement=not rsa_key)
    builder = builder.add_extension(key_usage, critical=True)
    if email:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
    if eku and not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    if ocsp_url:
        access = x509.AccessDescription(
            x509.oid.AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url)
        )
        builder = builder.add_extension(x509.AuthorityInformationAccess([access]), critical=False)
    if crl_url:
        point = x509.DistributionPoint([x509.UniformResourceIdentifier(crl_url)], None, None, None)
        builder = builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)
    return Issued(builder.sign(signer, hashes.SHA256()), key)


def key_usage(**flags):
    return _key_usage(**flags)


def crl(issuer, revoked=(), next_update=NOW + 7 * DAY):
    """A CRL from `issuer` listing the Issued certificates in `revoked`."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.cert.subject)
        .last_update(NOW - DAY)
        .next_update(next_update)
    )
    for item in revoked:
        entry = x509.RevokedCertificateBuilder().serial_number(item.cert.serial_number).revocation_date(NOW - DAY)
        builder = builder.add_revoked_certificate(entry.build())
    return builder.sign(issuer.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
