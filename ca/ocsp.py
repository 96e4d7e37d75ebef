"""OCSP: for certificates that name a responder, ask it (RFC 6960) on a
schedule, check the answer's signature, and keep it for validation. Asked in
the background, never while a message waits."""

import datetime
import logging
import urllib.request

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID
from django.utils import timezone

from . import trust
from .models import Certificate, OcspResponse

log = logging.getLogger(__name__)
TIMEOUT = 15
MAX_RESPONSE = 1024 * 1024


class OcspError(Exception):
    """No usable answer from the responder."""


def _verify(signer_key, signature, data, hash_algorithm):
    if isinstance(signer_key, rsa.RSAPublicKey):
        signer_key.verify(signature, data, padding.PKCS1v15(), hash_algorithm)
    elif isinstance(signer_key, ec.EllipticCurvePublicKey):
        signer_key.verify(signature, data, ec.ECDSA(hash_algorithm))
    else:
        raise OcspError("unsupported responder key type")


def _responder(response, issuer):
    """The certificate that signed the response: the issuer itself, or one
    it delegated OCSP signing to (id-kp-OCSPSigning)."""
    if response.responder_name == issuer.subject or response.responder_key_hash == _key_hash(issuer):
        return issuer
    for cert in response.certificates:
        try:
            eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            continue
        if ExtendedKeyUsageOID.OCSP_SIGNING in eku and cert.issuer == issuer.subject:
            cert.verify_directly_issued_by(issuer)
            return cert
    raise OcspError("the response is signed by neither the issuer nor a delegated responder")


def _key_hash(cert):
    # RFC 6960 names a responder by the SHA-1 of its key: the same digest as
    # the subject key identifier's method 1 (RFC 5280).
    return x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest


def ask(url, cert, issuer):
    """Ask `url` about `cert` and return the checked single response."""
    request = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1()).build()  # noqa: S303 - what responders expect
    http = urllib.request.Request(  # noqa: S310 - http(s) only, checked below
        url,
        data=request.public_bytes(serialization.Encoding.DER),
        headers={"Content-Type": "application/ocsp-request", "User-Agent": "Lockpost OCSP"},
    )
    if not url.lower().startswith(("http://", "https://")):
        raise OcspError(f"{url}: not an HTTP responder")
    try:
        with urllib.request.urlopen(http, timeout=TIMEOUT) as answer:  # noqa: S310
            body = answer.read(MAX_RESPONSE)
        response = ocsp.load_der_ocsp_response(body)
    except (OSError, ValueError) as exc:
        raise OcspError(f"{url}: {exc}") from None
    if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise OcspError(f"{url}: responder says {response.response_status.name}")
    signer = _responder(response, issuer)
    try:
        _verify(signer.public_key(), response.signature, response.tbs_response_bytes, response.signature_hash_algorithm)
    except InvalidSignature:
        raise OcspError(f"{url}: bad signature on the response") from None
    if response.serial_number != cert.serial_number:
        raise OcspError(f"{url}: the response is about another certificate")
    return response, body


def check(row):
    """Refresh the stored OCSP answer for one Certificate row."""
    cert = trust.x509_of(row)
    issuer_row = Certificate.objects.filter(is_ca=True, subject=row.issuer).first()
    if issuer_row is None:
        raise OcspError(f"issuer of {row.subject} is not in the store")
    issuer = trust.x509_of(issuer_row)
    last_error = None
    for url in row.ocsp_urls:
        try:
            response, body = ask(url, cert, issuer)
        except OcspError as exc:
            last_error = exc
            continue
        status = {
            ocsp.OCSPCertStatus.GOOD: OcspResponse.Status.GOOD,
            ocsp.OCSPCertStatus.REVOKED: OcspResponse.Status.REVOKED,
        }.get(response.certificate_status, OcspResponse.Status.UNKNOWN)
        OcspResponse.objects.update_or_create(
            certificate=row,
            defaults={
                "status": status,
                "revoked_at": response.revocation_time_utc,
                "this_update": response.this_update_utc,
                "next_update": response.next_update_utc,
                "der": body,
                "fetched_at": timezone.now(),
            },
        )
        return status
    raise last_error or OcspError("no responder named")


def refresh(max_age=datetime.timedelta(hours=12)):
    """Ask again for every valid certificate that names a responder and whose
    answer is missing, stale or older than `max_age`."""
    now = timezone.now()
    due = Certificate.objects.filter(not_after__gt=now, is_ca=False).exclude(ocsp_urls=[])
    fresh = OcspResponse.objects.filter(fetched_at__gt=now - max_age, next_update__gt=now)
    done = failed = 0
    for row in due.exclude(pk__in=fresh.values("certificate_id")).iterator():
        try:
            check(row)
            done += 1
        except OcspError as exc:
            failed += 1
            log.warning("OCSP check failed for %s: %s", row.sha256[:16], exc)
    return {"checked": done, "failed": failed}
