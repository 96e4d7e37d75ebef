"""Certificate revocation lists: downloaded from the distribution points the
certificates name (HTTP and LDAP), signature-checked against the issuer in
the store, and kept for validation. Refreshed on a schedule."""

import logging
import urllib.parse
import urllib.request

import ldap3
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from django.db import transaction
from django.utils import timezone

from .models import Certificate, RevocationList

log = logging.getLogger(__name__)

MAX_CRL_SIZE = 50 * 1024 * 1024
TIMEOUT = 30


class CrlError(Exception):
    """A CRL could not be fetched, read or trusted."""


def _http(url):
    request = urllib.request.Request(url, headers={"User-Agent": "Lockpost CRL fetcher"})  # noqa: S310 - scheme checked by caller
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
        data = response.read(MAX_CRL_SIZE + 1)
    if len(data) > MAX_CRL_SIZE:
        raise CrlError(f"{url}: larger than {MAX_CRL_SIZE} bytes")
    return data


def _ldap(url):
    """ldap://host[:port]/DN?attribute;binary (RFC 4516)."""
    parts = urllib.parse.urlsplit(url)
    dn = urllib.parse.unquote(parts.path.lstrip("/"))
    attribute = (urllib.parse.unquote(parts.query).split("?")[0] or "certificateRevocationList;binary").strip()
    server = ldap3.Server(
        parts.hostname, port=parts.port or 389, use_ssl=parts.scheme == "ldaps", connect_timeout=TIMEOUT
    )
    with ldap3.Connection(server, auto_bind=True, receive_timeout=TIMEOUT) as conn:
        conn.search(dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=[attribute])
        if not conn.entries:
            raise CrlError(f"{url}: no entry {dn!r}")
        values = conn.response[0]["raw_attributes"].get(attribute) or conn.response[0]["raw_attributes"].get(
            attribute.split(";")[0]
        )
    if not values:
        raise CrlError(f"{url}: the entry has no {attribute}")
    return values[0]


def download(url):
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    try:
        if scheme in ("http", "https"):
            return _http(url)
        if scheme in ("ldap", "ldaps"):
            return _ldap(url)
    except CrlError:
        raise
    except Exception as exc:
        raise CrlError(f"{url}: {exc}") from None
    raise CrlError(f"{url}: unsupported scheme {scheme!r}")


def load(data):
    data = bytes(data)
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError as exc:
        raise CrlError(f"not a CRL: {exc}") from None


def check_signature(crl, issuers):
    """The issuer among `issuers` (x509 certificates) that signed `crl`; else CrlError."""
    for issuer in issuers:
        if issuer.subject == crl.issuer and crl.is_signature_valid(issuer.public_key()):
            return issuer
    raise CrlError(f"no certificate in the store signed the CRL of {crl.issuer.rfc4514_string()}")


def store_crl(data, url=""):
    """Check and keep one CRL. An older CRL never replaces a newer one (a
    replayed CRL must not un-revoke); an equally new one does."""
    crl = load(data)
    issuers = [
        x509.load_der_x509_certificate(bytes(der))
        for der in Certificate.objects.filter(is_ca=True).values_list("der", flat=True)
    ]
    check_signature(crl, issuers)
    with transaction.atomic():
        existing = RevocationList.objects.select_for_update().filter(url=url, issuer=crl.issuer.rfc4514_string())
        current = existing.first()
        if current is not None and current.this_update > crl.last_update_utc:
            return current
        existing.delete()
        number = _crl_number(crl)
        return RevocationList.objects.create(
            issuer=crl.issuer.rfc4514_string(),
            url=url,
            der=crl.public_bytes(Encoding.DER),
            this_update=crl.last_update_utc,
            next_update=crl.next_update_utc,
            crl_number=str(number) if number is not None else "",
        )


def _crl_number(crl):
    try:
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        return None


def distribution_points():
    """Every CRL URL named by a certificate still within its validity."""
    urls = set()
    for names in (
        Certificate.objects.filter(not_after__gt=timezone.now()).exclude(crl_urls=[]).values_list("crl_urls", flat=True)
    ):
        urls.update(names)
    return sorted(urls)


def refresh():
    """Fetch every distribution point once. Returns {"fetched": n, "failed": n}."""
    fetched = failed = 0
    for url in distribution_points():
        try:
            store_crl(download(url), url)
            fetched += 1
        except CrlError as exc:
            failed += 1
            log.warning("CRL refresh failed: %s", exc)
    return {"fetched": fetched, "failed": failed}
