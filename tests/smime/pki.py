"""A throw-away S/MIME PKI for tests: root, intermediate, RSA and EC users, and misfits.

Built once per test session with pyca/cryptography (``build`` is cached).
Every holder also writes itself to PEM/PKCS#12 on demand for the peers.
"""

import datetime
import functools
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.smime import Identity

NOW = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
PASSWORD = b"test-pass"


@dataclass(frozen=True)
class Holder:
    name: str
    email: str
    certificate: x509.Certificate
    key: object
    chain: tuple[x509.Certificate, ...] = field(default_factory=tuple)

    @property
    def identity(self) -> Identity:
        return Identity(self.certificate, self.key, self.chain)

    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def pkcs12(self, legacy: bool = False) -> bytes:
        """Legacy (3DES, SHA-1 MAC) for gpgsm; modern otherwise."""
        if legacy:
            enc = (
                serialization.PrivateFormat.PKCS12.encryption_builder()
                .kdf_rounds(2048)
                .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
                .hmac_hash(hashes.SHA1())  # noqa: S303 (the legacy form gpgsm needs)
                .build(PASSWORD)
            )
        else:
            enc = serialization.BestAvailableEncryption(PASSWORD)
        return pkcs12.serialize_key_and_certificates(
            self.name.encode(), self.key, self.certificate, list(self.chain), enc
        )


def _name(cn: str, email: str | None = None) -> x509.Name:
    attrs = [
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Lockpost Test"),
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
    ]
    if email:
        attrs.append(x509.NameAttribute(NameOID.EMAIL_ADDRESS, email))
    return x509.Name(attrs)


def _ca(subject: x509.Name, key, issuer_name: x509.Name, issuer_key, path_len: int | None) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=30))
        .not_valid_after(NOW + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_len), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(issuer_key, hashes.SHA256())
    )


def _user(
    email: str,
    key,
    issuer: x509.Certificate,
    issuer_key,
    *,
    eku=(ExtendedKeyUsageOID.EMAIL_PROTECTION,),
    not_before: datetime.datetime | None = None,
    not_after: datetime.datetime | None = None,
) -> x509.Certificate:
    is_ec = isinstance(key, ec.EllipticCurvePrivateKey)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(email.split("@")[0], email))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - datetime.timedelta(days=1))
        .not_valid_after(not_after or NOW + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=not is_ec,
                data_encipherment=False,
                key_agreement=is_ec,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    )
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _rsa():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass(frozen=True)
class Pki:
    root: Holder
    intermediate: Holder
    alice: Holder  # RSA
    bob: Holder  # RSA
    carol: Holder  # EC P-256
    expired: Holder
    server_only: Holder  # EKU serverAuth only: not for S/MIME
    stranger: Holder  # issued by a root nobody trusts

    @property
    def roots(self) -> list[x509.Certificate]:
        return [self.root.certificate]


@functools.cache
def build() -> Pki:
    root_key = _rsa()
    root_name = _name("Lockpost Test Root")
    root = _ca(root_name, root_key, root_name, root_key, 1)
    inter_key = _rsa()
    inter = _ca(_name("Lockpost Test Intermediate"), inter_key, root_name, root_key, 0)
    chain = (inter, root)

    def user(name, key=None, **kw):
        key = key or _rsa()
        email = f"{name}@example.test"
        return Holder(name, email, _user(email, key, inter, inter_key, **kw), key, chain)

    other_key = _rsa()
    other_root = _ca(_name("Unknown Root"), other_key, _name("Unknown Root"), other_key, 0)
    stranger_key = _rsa()
    return Pki(
        root=Holder("root", "", root, root_key),
        intermediate=Holder("intermediate", "", inter, inter_key, (root,)),
        alice=user("alice"),
        bob=user("bob"),
        carol=user("carol", ec.generate_private_key(ec.SECP256R1())),
        expired=user(
            "expired",
            not_before=NOW - datetime.timedelta(days=400),
            not_after=NOW - datetime.timedelta(days=35),
        ),
        server_only=user("server", eku=(ExtendedKeyUsageOID.SERVER_AUTH,)),
        stranger=Holder(
            "stranger",
            "stranger@example.test",
            _user("stranger@example.test", stranger_key, other_root, other_key),
            stranger_key,
            (other_root,),
        ),
    )
