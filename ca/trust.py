"""The trust context: everything path validation needs from the store, read
once and shared between selections while it is fresh.

It is rebuilt when the trust epoch changes (any change to anchors, CA
certificates, CRLs, revocations or the trust list bumps it, after commit, in
the shared cache) or after LOCKPOST_TRUST_CACHE_SECONDS at the latest."""

import threading
import time
from typing import NamedTuple

from cryptography import x509
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .fastpath import FastPath
from .models import Certificate, OcspResponse, Revocation, RevocationList, TrustListEntry
from .validation import PathResult, usage_problem, validate_path

EPOCH_KEY = "lockpost:ca:trust-epoch"
MAX_REMEMBERED = 100_000

_current = None
_lock = threading.Lock()


def x509_of(cert):
    return x509.load_der_x509_certificate(bytes(cert.der))


def current():
    """The trust context to use now."""
    global _current
    epoch = cache.get(EPOCH_KEY, 0)
    context = _current
    fresh = context is not None and time.monotonic() - context.loaded < settings.LOCKPOST_TRUST_CACHE_SECONDS
    if fresh and context.epoch == epoch:
        return context
    with _lock:
        _current = TrustContext(epoch)
        return _current


def changed():
    """Trust has changed: every process rebuilds its context (after commit,
    so nobody rebuilds from data that may still roll back)."""

    global _current

    def bump():
        global _current
        try:
            cache.incr(EPOCH_KEY)
        except ValueError:
            cache.set(EPOCH_KEY, 1, timeout=None)
        _current = None

    # This process sees its own writes at once; the others after commit.
    _current = None
    transaction.on_commit(bump)


def forget():
    """Drop this process's context (tests, after the database was rolled back)."""
    global _current
    _current = None


@receiver([post_save, post_delete], sender=RevocationList)
@receiver([post_save, post_delete], sender=TrustListEntry)
@receiver([post_save, post_delete], sender=Revocation)
@receiver([post_save, post_delete], sender=OcspResponse)
def _trust_data_changed(sender, **kwargs):
    changed()


@receiver([post_save, post_delete], sender=Certificate)
def _certificate_changed(sender, instance, **kwargs):
    if instance.is_ca or instance.trust_anchor:
        changed()


def _names_revocation_source(parsed):
    try:
        parsed.extensions.get_extension_for_class(x509.CRLDistributionPoints)
        return True
    except x509.ExtensionNotFound:
        pass
    try:
        access = parsed.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return False
    return any(d.access_method == x509.oid.AuthorityInformationAccessOID.OCSP for d in access)


def _current_at(crl, at):
    return crl.last_update_utc <= at and (crl.next_update_utc is None or crl.next_update_utc >= at)


class Judgement(NamedTuple):
    problem: str | None
    path: list
    warning: str | None


class TrustContext:
    """What validation needs from the store: anchors, intermediates, CRLs,
    revocations and the trust list, read once and shared while fresh; and
    the path validations done with it, remembered for the same minute."""

    def __init__(self, epoch=0):
        self.epoch = epoch
        self.loaded = time.monotonic()
        self._verdicts = {}
        self.revoked = {r.certificate_id: (r.reason, r.revoked_at) for r in Revocation.objects.all()}
        self.ocsp = {o.certificate_id: o for o in OcspResponse.objects.defer("der")}
        self.anchors = [x509_of(c) for c in Certificate.objects.filter(trust_anchor=True)]
        self.intermediates = [x509_of(c) for c in Certificate.objects.filter(is_ca=True, trust_anchor=False)]
        self.crls = [bytes(der) for der in RevocationList.objects.values_list("der", flat=True)]
        # pyhanko consults CRLs only for certificates that name a distribution
        # point; a CRL we hold covers every certificate of its issuer.
        self.parsed_crls = [x509.load_der_x509_crl(der) for der in self.crls]
        self.fast = FastPath(self.anchors, self.intermediates)
        self.trust_list = dict(TrustListEntry.objects.values_list("sha256", "action"))
        self.reasons = dict(TrustListEntry.objects.values_list("sha256", "reason"))

    def judge(self, cert, usage, at):
        """A Judgement: why `cert` cannot be used for `usage` at `at` (or
        None), the path to the anchor, and a warning worth the trail."""
        problem, path = self._judge(cert, usage, at)
        warning = None
        if problem is None and len(path) > 1:
            # The leaf is known by a good OCSP answer or a current CRL; those
            # above it (intermediates) by a current CRL.
            above = path[1:-1]
            unknown = self._revocation_unknown(above if self._ocsp_good(cert, at) else path[:-1], at)
            if unknown:
                warning = f"revocation status unknown: no current CRL for {unknown}"
                if settings.LOCKPOST_REVOCATION_UNKNOWN == "reject":
                    return Judgement(warning, [], None)
        return Judgement(problem, path, warning)

    def _ocsp_good(self, cert, at):
        answer = self.ocsp.get(cert.pk)
        return (
            answer is not None
            and answer.status == "good"
            and answer.this_update <= at
            and (answer.next_update is None or answer.next_update >= at)
        )

    def _revocation_unknown(self, certificates, at):
        """The first certificate that names a CRL or OCSP responder while we
        hold no current CRL of its issuer, as its subject; or None."""
        for parsed in certificates:
            if not _names_revocation_source(parsed):
                continue
            if not any(crl.issuer == parsed.issuer and _current_at(crl, at) for crl in self.parsed_crls):
                return parsed.subject.rfc4514_string()
        return None

    def _revoked_by_crl(self, parsed, at):
        """When a CRL we hold lists `parsed` as revoked by `at`: the date; else None."""
        for crl in self.parsed_crls:
            if crl.issuer == parsed.issuer:
                entry = crl.get_revoked_certificate_by_serial_number(parsed.serial_number)
                if entry is not None and entry.revocation_date_utc <= at:
                    return entry.revocation_date_utc
        return None

    def _validate(self, parsed, usage, at):
        """The path validation's PathResult: the Rust verifier's when it
        plainly accepts the path, else pyhanko's."""
        # A CRL past its next update tells nothing current: leave it out, so
        # the status counts as unknown (see judge) rather than failing the path.
        current = [(der, crl) for der, crl in zip(self.crls, self.parsed_crls, strict=True) if _current_at(crl, at)]
        path = self.fast.path(parsed, at, [crl for _der, crl in current])
        if path is not None:
            problem = usage_problem(parsed, usage)
            return PathResult(problem is None, problem, path)
        return validate_path(
            parsed,
            trust_roots=self.anchors,
            intermediates=self.intermediates,
            at=at,
            usage=usage,
            crls=[der for der, _crl in current],
        )

    def _judge(self, cert, usage, at):
        action = self.trust_list.get(cert.sha256)
        if action == TrustListEntry.Action.BLOCK:
            return f"blocked by the trust list: {self.reasons[cert.sha256]}", []
        if at < cert.not_before:
            return f"not yet valid (from {cert.not_before:%Y-%m-%d})", []
        if at > cert.not_after:
            return f"expired on {cert.not_after:%Y-%m-%d}", []
        reason, revoked_at = self.revoked.get(cert.pk, (None, None))
        if reason is not None and revoked_at <= at:
            return f"revoked by our CA ({reason})", []
        answer = self.ocsp.get(cert.pk)
        if answer is not None and answer.status == "revoked" and answer.revoked_at <= at:
            return f"revoked on {answer.revoked_at:%Y-%m-%d} (OCSP)", []
        parsed = x509_of(cert)
        revoked = self._revoked_by_crl(parsed, at)
        if revoked:
            return f"revoked on {revoked:%Y-%m-%d} (CRL of {cert.issuer})", []
        if action == TrustListEntry.Action.ALLOW:
            # Allowed by the admin: trusted without a path, but still only
            # for what its key usage permits.
            problem = usage_problem(parsed, usage)
            return (f"wrong usage: {problem}" if problem else None), [parsed]
        key = (cert.sha256, usage, at.replace(second=0, microsecond=0))
        result = self._verdicts.get(key)
        if result is None:
            result = self._validate(parsed, usage, at)
            if len(self._verdicts) > MAX_REMEMBERED:
                self._verdicts.clear()
            self._verdicts[key] = result
        if result.valid:
            # pyhanko consults a CRL only for a certificate that names a
            # distribution point; one we hold covers its issuer's every
            # certificate, the intermediates on the path too.
            for above in result.path[1:-1]:
                revoked = self._revoked_by_crl(above, at)
                if revoked:
                    name = above.subject.rfc4514_string()
                    return f"revoked: intermediate {name} revoked on {revoked:%Y-%m-%d}", []
            return None, result.path
        problem = result.problem or "not valid"
        if problem.startswith(("key usage", "extended key usage")):
            return f"wrong usage: {problem}", []
        if problem.startswith("revoked"):
            return problem, []
        return f"untrusted: {problem}", []
