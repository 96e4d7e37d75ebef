"""The built-in CA: a root (and optionally an intermediate) that issues
S/MIME certificates to internal and external users, revokes them and
publishes a CRL. Keys live encrypted in the database."""

import datetime
import secrets

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from gateway.models import MailUser

from . import hsm
from .keys import private_key_for
from .models import Certificate, CertificateAuthority, PrivateKey, Revocation
from .signals import certificate_issued
from .store import add_certificate, add_private_key

KEY_TYPES = ("rsa3072", "rsa2048", "p256")
REASONS = {r.name: r for r in x509.ReasonFlags}


def generate_key(key_type):
    if key_type == "p256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type in ("rsa3072", "rsa2048"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[3:]))
    raise ValueError(f"key type must be one of {', '.join(KEY_TYPES)}")


def _portal_url(path):
    return settings.LOCKPOST_PORTAL_URL.rstrip("/") + path


def _ca_extensions(builder, key, issuer_key, path_length):
    return (
        builder.add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    )


@transaction.atomic
def create_root(name, key_type="rsa3072", years=10, in_token=False):
    """A self-signed root, trusted as an anchor from the start; its key made
    here or inside the PKCS#11 token."""
    key, key_id = _new_key(key_type, in_token, name)
    subject = _ca_name(name)
    builder = _builder(subject, subject, key.public_key(), days=365 * years)
    cert = _sign(_ca_extensions(builder, key, key, None), key)
    return _save_authority(name, cert, key, key_id, parent=None, trust_anchor=True)


@transaction.atomic
def create_intermediate(parent, name, key_type="rsa3072", years=5, in_token=False):
    key, key_id = _new_key(key_type, in_token, name)
    parent_key = authority_key(parent)
    parent_cert = x509.load_der_x509_certificate(bytes(parent.certificate.der))
    builder = _builder(_ca_name(name), parent_cert, key.public_key(), days=365 * years)
    builder = _ca_extensions(builder, key, parent_key, 0)
    builder = _publication_extensions(builder, parent)
    cert = _sign(builder, parent_key)
    parent.issues_users = False
    parent.save(update_fields=["issues_users"])
    return _save_authority(name, cert, key, key_id, parent=parent, trust_anchor=False)


def _ca_name(name):
    return x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, name), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Lockpost")]
    )


def _builder(subject, issuer, public_key, days):
    """A certificate builder for `subject`; `issuer` is a Name (self-signed)
    or the issuing certificate, whose validity caps the new one's."""
    now = timezone.now()
    not_after = now + datetime.timedelta(days=days)
    if isinstance(issuer, x509.Certificate):
        not_after = min(not_after, issuer.not_valid_after_utc)
        issuer = issuer.subject
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))  # clocks elsewhere may lag a little
        .not_valid_after(not_after)
    )


def _new_key(key_type, in_token, label):
    """A new key pair, here or inside the token. Returns (key, token key id or None)."""
    if not in_token:
        return generate_key(key_type), None
    key_id = secrets.token_bytes(16)
    hsm.token().generate(key_type, key_id, label=label)
    return hsm.token().key(key_id), key_id


def _keep_key(row, key, key_id):
    if key_id is None:
        add_private_key(row, key)
    else:
        PrivateKey.objects.create(certificate=row, token_label=hsm.token().label, token_key_id=key_id.hex())


def _sign(builder, key):
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        return builder.sign(key, hashes.SHA256())
    return hsm.sign_certificate(builder, key)


def _save_authority(name, cert, key, key_id, parent, trust_anchor):
    row, _ = add_certificate(cert.public_bytes(serialization.Encoding.DER), Certificate.Source.ISSUED, trust_anchor)
    _keep_key(row, key, key_id)
    return CertificateAuthority.objects.create(name=name, certificate=row, parent=parent)


def authority_key(authority):
    return private_key_for(authority.certificate)


def default_authority():
    return CertificateAuthority.objects.filter(issues_users=True).order_by("-created_at").first()


def _publication_extensions(builder, issuer):
    return builder.add_extension(
        x509.CRLDistributionPoints(
            [
                x509.DistributionPoint(
                    full_name=[x509.UniformResourceIdentifier(_portal_url(reverse("ca-crl", args=[issuer.pk])))],
                    relative_name=None,
                    reasons=None,
                    crl_issuer=None,
                )
            ]
        ),
        critical=False,
    ).add_extension(
        x509.AuthorityInformationAccess(
            [
                x509.AccessDescription(
                    x509.oid.AuthorityInformationAccessOID.CA_ISSUERS,
                    x509.UniformResourceIdentifier(_portal_url(reverse("ca-certificate", args=[issuer.pk]))),
                )
            ]
        ),
        critical=False,
    )


def _smime_key_usage(public_key):
    is_rsa = isinstance(public_key, rsa.RSAPublicKey)
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=True,
        key_encipherment=is_rsa,
        data_encipherment=False,
        key_agreement=not is_rsa,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


@transaction.atomic
def issue(email, common_name="", key_type="rsa3072", authority=None, days=None, in_token=False, issued_by=None):
    """Issue an S/MIME certificate for `email`, with a key made here (or
    inside the PKCS#11 token). Stored and usable for selection at once."""
    authority = authority or default_authority()
    if authority is None:
        raise ValueError("there is no certificate authority yet: create one first")
    email = email.strip().lower()
    key, key_id = _new_key(key_type, in_token, email)
    public_key = key.public_key()
    ca_key = authority_key(authority)
    ca_cert = x509.load_der_x509_certificate(bytes(authority.certificate.der))
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name or email),
            x509.NameAttribute(NameOID.EMAIL_ADDRESS, email),
        ]
    )
    builder = (
        _builder(subject, ca_cert, public_key, days=days or authority.validity_days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_smime_key_usage(public_key), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    builder = _publication_extensions(builder, authority)
    cert = _sign(builder, ca_key)
    row, _ = add_certificate(cert.public_bytes(serialization.Encoding.DER), Certificate.Source.ISSUED)
    _keep_key(row, key, key_id)
    user, _ = MailUser.objects.get_or_create(email=email)
    row.users.add(user)
    # Others act on it (the portal offers an external recipient a pickup);
    # what they did is kept for whoever issued to show.
    responses = certificate_issued.send(sender=Certificate, certificate=row, issued_by=issued_by)
    row.issue_notes = [str(answer) for _, answer in responses if answer]
    return row


def issuing_authority(cert):
    return CertificateAuthority.objects.filter(certificate__subject=cert.issuer).first()


def renew(cert, key_type="rsa3072"):
    """A new certificate (and key) for the same address; the old one stays valid until it expires."""
    emails = list(cert.emails.values_list("email", flat=True))
    if not emails:
        raise ValueError("this certificate names no email address")
    parsed = x509.load_der_x509_certificate(bytes(cert.der))
    names = parsed.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return issue(emails[0], names[0].value if names else "", key_type, issuing_authority(cert))


def revoke(cert, reason="unspecified"):
    if reason not in REASONS:
        raise ValueError(f"reason must be one of {', '.join(REASONS)}")
    authority = issuing_authority(cert)
    if authority is None:
        raise ValueError("this certificate was not issued by our CA")
    revocation, _ = Revocation.objects.get_or_create(
        certificate=cert, defaults={"authority": authority, "reason": reason}
    )
    CertificateAuthority.objects.filter(pk=authority.pk).update(published_crl=None, published_crl_at=None)
    return revocation


CRL_HOURS_VALID = 48


def current_crl(authority):
    """The CRL to publish: the last one signed while it is fresh, else a new one."""
    authority.refresh_from_db(fields=["published_crl", "published_crl_at"])
    fresh = timezone.now() - datetime.timedelta(hours=CRL_HOURS_VALID / 2)
    if authority.published_crl is not None and authority.published_crl_at > fresh:
        return bytes(authority.published_crl)
    der = crl(authority, CRL_HOURS_VALID)
    CertificateAuthority.objects.filter(pk=authority.pk).update(published_crl=der, published_crl_at=timezone.now())
    return der


def crl(authority, hours_valid=48):
    """The CRL of one of our CAs, signed now. Served by the web app."""
    ca_key = authority_key(authority)
    ca_cert = x509.load_der_x509_certificate(bytes(authority.certificate.der))
    now = timezone.now()
    with transaction.atomic():
        locked = CertificateAuthority.objects.select_for_update().get(pk=authority.pk)
        number = locked.next_crl_number
        locked.next_crl_number = number + 1
        locked.save(update_fields=["next_crl_number"])
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now)
        .next_update(now + datetime.timedelta(hours=hours_valid))
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    for revocation in authority.revocations.select_related("certificate"):
        entry = (
            x509.RevokedCertificateBuilder()
            .serial_number(int(revocation.certificate.serial, 16))
            .revocation_date(revocation.revoked_at)
        )
        if revocation.reason != "unspecified":
            entry = entry.add_extension(x509.CRLReason(REASONS[revocation.reason]), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    if isinstance(ca_key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        signed = builder.sign(ca_key, hashes.SHA256())
    else:
        signed = hsm.sign_crl(builder, ca_key)
    return signed.public_bytes(serialization.Encoding.DER)
