"""Certificate path validation for S/MIME: a pure function over certificates.

Path building and PKIX checks are pyhanko-certvalidator's; this module adds
what S/MIME asks of the end-entity certificate (RFC 8550 section 4.4: key
usage and extended key usage) and turns the outcome into a plain verdict.
Trust roots are always passed in: the system trust store is never consulted.
"""

import asyncio
import concurrent.futures
import datetime
import functools
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError, RevokedError, ValidationError


class Usage(StrEnum):
    SIGN = "sign"
    ENCRYPT = "encrypt"


@dataclass(frozen=True)
class PathResult:
    valid: bool
    problem: str | None = None  # why not, in words for the trail
    path: list[x509.Certificate] = field(default_factory=list)  # leaf first, trust anchor last


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))


@functools.lru_cache(maxsize=256)
def _asn1_of_issuer(der: bytes) -> asn1_x509.Certificate:
    # Anchors and intermediates come back on every validation: parsed once,
    # their names are normalised once too (asn1crypto keeps that on the
    # object), which halves the time of a validation. Leaves are not kept.
    return asn1_x509.Certificate.load(der)


def _issuer_asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return _asn1_of_issuer(cert.public_bytes(Encoding.DER))


def usage_problem(cert: x509.Certificate, usage: Usage) -> str | None:
    """What keeps ``cert`` from the S/MIME ``usage``, or None. Absent extensions allow everything."""
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        ku = None
    if ku is not None:
        if usage == Usage.SIGN and not (ku.digital_signature or ku.content_commitment):
            return "key usage allows neither digitalSignature nor nonRepudiation"
        if usage == Usage.ENCRYPT:
            if isinstance(cert.public_key(), ec.EllipticCurvePublicKey):
                if not ku.key_agreement:
                    return "key usage lacks keyAgreement (needed to encrypt to an EC key)"
            elif not ku.key_encipherment:
                return "key usage lacks keyEncipherment"
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return None
    if ExtendedKeyUsageOID.EMAIL_PROTECTION not in eku and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in eku:
        return "extended key usage does not include emailProtection"
    return None


async def avalidate_path(
    cert: x509.Certificate,
    *,
    trust_roots: Sequence[x509.Certificate],
    intermediates: Iterable[x509.Certificate] = (),
    at: datetime.datetime | None = None,
    usage: Usage = Usage.SIGN,
    crls: Iterable[bytes] = (),
    revocation_mode: str = "soft-fail",
) -> PathResult:
    if not trust_roots:
        return PathResult(False, "no trust anchors configured")
    moment = at or datetime.datetime.now(datetime.UTC)
    context = ValidationContext(
        trust_roots=[_issuer_asn1(c) for c in trust_roots],
        other_certs=[_issuer_asn1(c) for c in intermediates],
        moment=moment,
        allow_fetching=False,
        crls=list(crls),
        revocation_mode=revocation_mode,
    )
    validator = CertificateValidator(_asn1(cert), validation_context=context)
    try:
        path = await validator.async_validate_path()
    except RevokedError as exc:
        return PathResult(False, f"revoked: {exc}")
    except PathBuildingError as exc:
        return PathResult(False, f"no path to a trusted root: {exc}")
    except (PathValidationError, ValidationError) as exc:
        return PathResult(False, str(exc))
    chain = [x509.load_der_x509_certificate(c.dump()) for c in path.iter_certs(include_root=True)]
    chain.reverse()
    problem = usage_problem(cert, usage)
    return PathResult(problem is None, problem, chain)


_CACHE: dict[tuple, PathResult] = {}
_CACHE_SIZE = 4096


def _cache_key(cert: x509.Certificate, kwargs: dict) -> tuple | None:
    if kwargs.get("crls"):
        return None  # revocation data changes: never cache those answers
    at = kwargs.get("at") or datetime.datetime.now(datetime.UTC)
    der = lambda c: c.public_bytes(Encoding.DER)  # noqa: E731
    return (
        der(cert),
        tuple(sorted(der(c) for c in kwargs.get("trust_roots") or ())),
        tuple(sorted(der(c) for c in kwargs.get("intermediates") or ())),
        # Same answer within a minute: path building costs ~40 ms, mail comes in bursts.
        at.replace(second=0, microsecond=0),
        kwargs.get("usage", Usage.SIGN),
        kwargs.get("revocation_mode", "soft-fail"),
    )


def validate_path(cert: x509.Certificate, **kwargs) -> PathResult:
    """Synchronous ``avalidate_path`` (answers cached per minute when no CRLs are given);
    safe to call from inside a running event loop."""
    key = _cache_key(cert, kwargs)
    if key is not None and key in _CACHE:
        return _CACHE[key]
    result = _validate_now(cert, **kwargs)
    if key is not None:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.clear()
        _CACHE[key] = result
    return result


_local = threading.local()


def _thread_loop() -> asyncio.AbstractEventLoop:
    # One event loop per thread, kept: asyncio.run makes and tears down a loop
    # each call, which cost as much as the validation itself (about 1 ms).
    loop = getattr(_local, "loop", None)
    if loop is None or loop.is_closed():
        loop = _local.loop = asyncio.new_event_loop()
    return loop


def _validate_now(cert: x509.Certificate, **kwargs) -> PathResult:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _thread_loop().run_until_complete(avalidate_path(cert, **kwargs))
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, avalidate_path(cert, **kwargs)).result()
