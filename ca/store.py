"""Putting certificates and keys into the store, deduplicated by thumbprint."""

import hashlib
import json

from cryptography import x509
from django.db import connection, transaction
from django.utils import timezone

from . import certinfo, remember, trust
from .keys import encrypt_private_key
from .models import Certificate, CertificateEmail, PrivateKey


def _row(info, source):
    return Certificate(
        der=info.der,
        sha256=info.sha256,
        sha1=info.sha1,
        subject=info.subject,
        issuer=info.issuer,
        serial=info.serial,
        not_before=info.not_before,
        not_after=info.not_after,
        key_usage=list(info.key_usage),
        extended_key_usage=list(info.extended_key_usage),
        is_ca=info.is_ca,
        key_algorithm=info.key_algorithm,
        subject_key_identifier=info.subject_key_identifier,
        authority_key_identifier=info.authority_key_identifier,
        crl_urls=list(info.crl_urls),
        ocsp_urls=list(info.ocsp_urls),
        source=source,
    )


def add_certificate(der, source=Certificate.Source.IMPORTED, trust_anchor=False):
    """Store one certificate. Returns (Certificate, created)."""
    info = certinfo.read(bytes(der))
    existing = Certificate.objects.filter(sha256=info.sha256).first()
    if existing is not None:
        if trust_anchor and not existing.trust_anchor:
            existing.trust_anchor = True
            existing.save(update_fields=["trust_anchor"])
        return existing, False
    with transaction.atomic():
        cert = _row(info, source)
        cert.trust_anchor = trust_anchor
        cert.save()
        CertificateEmail.objects.bulk_create([CertificateEmail(certificate=cert, email=e) for e in info.emails])
    return cert, True


def add_many(ders, source=Certificate.Source.IMPORTED):
    """Store many certificates at once (bulk import, harvest). Returns how many were new.
    Within a ca.remember block (a worker batch) a certificate stored or found
    stored already is not looked up again: a batch often holds several
    messages from one sender."""
    stored = remember.kept("stored certificates")
    by_digest = {hashlib.sha256(der).hexdigest(): der for der in map(bytes, ders)}
    unseen = [sha for sha in by_digest if sha not in stored]
    if not unseen:
        return 0
    # Most harvested certificates are known already: only new ones are read
    # (parsing is most of the cost) and only they open a transaction.
    known = set(Certificate.objects.filter(sha256__in=unseen).values_list("sha256", flat=True))
    new = [certinfo.read(by_digest[sha]) for sha in unseen if sha not in known]
    if not new:
        stored.update(unseen)
        return 0
    with transaction.atomic():
        if connection.vendor == "postgresql":
            _copy_into_postgresql(new, source)
        else:
            Certificate.objects.bulk_create([_row(i, source) for i in new], ignore_conflicts=True, batch_size=500)
        ids = dict(Certificate.objects.filter(sha256__in=[i.sha256 for i in new]).values_list("sha256", "id"))
        emails = [CertificateEmail(certificate_id=ids[i.sha256], email=e) for i in new for e in i.emails]
        CertificateEmail.objects.bulk_create(emails, ignore_conflicts=True, batch_size=2000)
        if any(i.is_ca for i in new):
            trust.changed()  # bulk paths send no signals
    stored.update(unseen)
    return len(new)


# Bulk import into PostgreSQL goes through COPY: about ten times the speed of
# INSERT for a million certificates. Django has no COPY, so this is by hand.
_COPY_COLUMNS = [
    "der",
    "sha256",
    "sha1",
    "subject",
    "issuer",
    "serial",
    "not_before",
    "not_after",
    "key_usage",
    "extended_key_usage",
    "is_ca",
    "key_algorithm",
    "subject_key_identifier",
    "authority_key_identifier",
    "crl_urls",
    "ocsp_urls",
    "trust_anchor",
    "source",
    "created_at",
]


def _copy_into_postgresql(infos, source):
    table = Certificate._meta.db_table
    now = timezone.now()
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor: it can COPY
        columns = ", ".join(_COPY_COLUMNS)
        # Only our own table and column names are interpolated, never input.
        raw.execute(f"CREATE TEMP TABLE bulk_certificates ON COMMIT DROP AS SELECT {columns} FROM {table} WITH NO DATA")  # noqa: S608
        with raw.copy(f"COPY bulk_certificates ({', '.join(_COPY_COLUMNS)}) FROM STDIN") as copy:
            for i in infos:
                copy.write_row(
                    (
                        i.der,
                        i.sha256,
                        i.sha1,
                        i.subject,
                        i.issuer,
                        i.serial,
                        i.not_before,
                        i.not_after,
                        json.dumps(list(i.key_usage)),
                        json.dumps(list(i.extended_key_usage)),
                        i.is_ca,
                        i.key_algorithm,
                        i.subject_key_identifier,
                        i.authority_key_identifier,
                        json.dumps(list(i.crl_urls)),
                        json.dumps(list(i.ocsp_urls)),
                        False,
                        source,
                        now,
                    )
                )
        raw.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM bulk_certificates "  # noqa: S608
            "ON CONFLICT (sha256) DO NOTHING"
        )
        raw.execute("DROP TABLE bulk_certificates")


def add_private_key(cert, key):
    """Keep a private key, encrypted at rest, for the certificate it belongs to."""
    if not _matches(cert, key):
        raise ValueError("the private key does not belong to this certificate")
    PrivateKey.objects.update_or_create(certificate=cert, defaults={"encrypted_pkcs8": encrypt_private_key(key)})


def _matches(cert, key):
    from .keys import public_key_matches

    return public_key_matches(key, x509.load_der_x509_certificate(bytes(cert.der)))


def import_bundle(bundle, source=Certificate.Source.IMPORTED):
    """Store every certificate of a formats.Bundle, and its keys. A key serves
    the addresses its certificate names (selection finds it by them)."""
    certs = [add_certificate(der, source)[0] for der in bundle.certificates]
    for key, der in bundle.keyed:
        cert, _ = add_certificate(der, source)
        add_private_key(cert, key)
    return certs


def harvest(ders):
    """Keep the certificates found in a signed message. Trust is decided at use."""
    return add_many(ders, source=Certificate.Source.HARVESTED)
