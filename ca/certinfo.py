"""What the store needs to know about a certificate, read from its DER bytes.
Pure: bytes in, plain values out."""

import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KEY_USAGE_NAMES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)


@dataclass(frozen=True)
class CertificateInfo:
    der: bytes
    sha256: str
    sha1: str
    subject: str
    issuer: str
    serial: str  # hex, no leading zeros
    not_before: object
    not_after: object
    emails: tuple
    key_usage: tuple  # names from KEY_USAGE_NAMES; empty when the extension is absent
    extended_key_usage: tuple  # dotted OIDs; empty when absent
    is_ca: bool
    key_algorithm: str  # "rsa", "ec", or another name
    subject_key_identifier: str
    authority_key_identifier: str
    crl_urls: tuple
    ocsp_urls: tuple


# Names as people read them (RFC 4514 knows no short name for emailAddress).
NAME_OVERRIDES = {NameOID.EMAIL_ADDRESS: "emailAddress"}


def _extension(cert, cls):
    try:
        return cert.extensions.get_extension_for_class(cls).value
    except x509.ExtensionNotFound:
        return None


def _emails(cert):
    found = []
    for attr in cert.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS):
        found.append(str(attr.value))
    san = _extension(cert, x509.SubjectAlternativeName)
    if san is not None:
        found += san.get_values_for_type(x509.RFC822Name)
    # Lower-cased and de-duplicated, in order of appearance.
    return tuple(dict.fromkeys(e.strip().lower() for e in found if e.strip()))


def _key_usage(cert):
    ku = _extension(cert, x509.KeyUsage)
    if ku is None:
        return ()
    names = [n for n in KEY_USAGE_NAMES if getattr(ku, n)]
    if ku.key_agreement:
        names += [n for n in ("encipher_only", "decipher_only") if getattr(ku, n)]
    return tuple(names)


def _key_algorithm(cert):
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return "rsa"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ec"
    return type(key).__name__.lower()


def _distribution_urls(cert):
    crl = _extension(cert, x509.CRLDistributionPoints)
    urls = []
    for point in crl or []:
        for name in point.full_name or []:
            if isinstance(name, x509.UniformResourceIdentifier):
                urls.append(name.value)
    aia = _extension(cert, x509.AuthorityInformationAccess)
    ocsp = [
        d.access_location.value
        for d in aia or []
        if d.access_method == x509.oid.AuthorityInformationAccessOID.OCSP
        and isinstance(d.access_location, x509.UniformResourceIdentifier)
    ]
    return tuple(urls), tuple(ocsp)


def read(der):
    """Parse one DER certificate. Raises ValueError for anything else."""
    cert = x509.load_der_x509_certificate(der)
    basic = _extension(cert, x509.BasicConstraints)
    eku = _extension(cert, x509.ExtendedKeyUsage)
    ski = _extension(cert, x509.SubjectKeyIdentifier)
    aki = _extension(cert, x509.AuthorityKeyIdentifier)
    crl_urls, ocsp_urls = _distribution_urls(cert)
    return CertificateInfo(
        der=der,
        sha256=hashlib.sha256(der).hexdigest(),
        sha1=hashlib.sha1(der).hexdigest(),  # noqa: S324 - a thumbprint people look up, not a security check
        subject=cert.subject.rfc4514_string(NAME_OVERRIDES),
        issuer=cert.issuer.rfc4514_string(NAME_OVERRIDES),
        serial=format(cert.serial_number, "x"),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        emails=_emails(cert),
        key_usage=_key_usage(cert),
        extended_key_usage=tuple(o.dotted_string for o in eku) if eku is not None else (),
        is_ca=bool(basic and basic.ca),
        key_algorithm=_key_algorithm(cert),
        subject_key_identifier=ski.digest.hex() if ski is not None else "",
        authority_key_identifier=(aki.key_identifier or b"").hex() if aki is not None else "",
        crl_urls=crl_urls,
        ocsp_urls=ocsp_urls,
    )


EMAIL_PROTECTION = ExtendedKeyUsageOID.EMAIL_PROTECTION.dotted_string
ANY_EXTENDED_KEY_USAGE = ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE.dotted_string
