"""Which certificates to use for an address, by strict PKI rules: trusted
(a path to one of our anchors), within validity, not revoked, not blocked,
and fit for the purpose. Every rejected candidate says why, for the trail
and the admin."""

from dataclasses import dataclass, field

from cryptography import x509
from django.utils import timezone

from gateway.models import Domain

from .models import Certificate, Revocation, RevocationList, TrustListEntry
from .validation import Usage, usage_problem, validate_path


@dataclass
class Verdict:
    certificate: Certificate
    problem: str | None = None  # None: usable
    origin: str = ""  # "assigned", "address", "domain example.com"
    path: list = field(default_factory=list)

    @property
    def usable(self):
        return self.problem is None


@dataclass
class Selection:
    chosen: list  # Certificates, best first
    verdicts: list  # every candidate with its verdict, in the order considered

    @property
    def rejected(self):
        return [v for v in self.verdicts if not v.usable]

    def explain(self):
        """One line a candidate, for the trail."""
        return [
            f"{v.certificate.subject} [{v.certificate.sha256[:16]}] ({v.origin}): {v.problem or 'usable'}"
            for v in self.verdicts
        ]


class TrustContext:
    """What validation needs from the store, read once per selection."""

    def __init__(self):
        self.anchors = [_x509(c) for c in Certificate.objects.filter(trust_anchor=True)]
        self.intermediates = [_x509(c) for c in Certificate.objects.filter(is_ca=True, trust_anchor=False)]
        self.crls = [bytes(der) for der in RevocationList.objects.values_list("der", flat=True)]
        # pyhanko consults CRLs only for certificates that name a distribution
        # point; a CRL we hold covers every certificate of its issuer.
        self.parsed_crls = [x509.load_der_x509_crl(der) for der in self.crls]
        self.trust_list = dict(TrustListEntry.objects.values_list("sha256", "action"))
        self.reasons = dict(TrustListEntry.objects.values_list("sha256", "reason"))

    def judge(self, cert, usage, at):
        """The reason `cert` cannot be used for `usage` at `at`, or None."""
        action = self.trust_list.get(cert.sha256)
        if action == TrustListEntry.Action.BLOCK:
            return f"blocked by the trust list: {self.reasons[cert.sha256]}", []
        if at < cert.not_before:
            return f"not yet valid (from {cert.not_before:%Y-%m-%d})", []
        if at > cert.not_after:
            return f"expired on {cert.not_after:%Y-%m-%d}", []
        revoked = Revocation.objects.filter(certificate=cert).first()
        if revoked is not None and revoked.revoked_at <= at:
            return f"revoked by our CA ({revoked.reason})", []
        parsed = _x509(cert)
        for crl in self.parsed_crls:
            if crl.issuer == parsed.issuer:
                entry = crl.get_revoked_certificate_by_serial_number(parsed.serial_number)
                if entry is not None and entry.revocation_date_utc <= at:
                    return f"revoked on {entry.revocation_date_utc:%Y-%m-%d} (CRL of {cert.issuer})", []
        if action == TrustListEntry.Action.ALLOW:
            # Allowed by the admin: trusted without a path, but still only
            # for what its key usage permits.
            problem = usage_problem(parsed, usage)
            return (f"wrong usage: {problem}" if problem else None), [parsed]
        result = validate_path(
            parsed, trust_roots=self.anchors, intermediates=self.intermediates, at=at, usage=usage, crls=self.crls
        )
        if result.valid:
            return None, result.path
        problem = result.problem or "not valid"
        if problem.startswith(("key usage", "extended key usage")):
            return f"wrong usage: {problem}", []
        if problem.startswith("revoked"):
            return problem, []
        return f"untrusted: {problem}", []


def _x509(cert):
    return x509.load_der_x509_certificate(bytes(cert.der))


def _candidates(address, with_key):
    """Explicitly assigned certificates first, then those naming the address;
    newest first within each."""
    address = address.strip().lower()
    base = Certificate.objects.filter(is_ca=False)
    if with_key:
        base = base.filter(private_key__isnull=False)
    order = ("-not_before", "-id")
    assigned = list(base.filter(users__email=address).order_by(*order))
    seen = {c.pk for c in assigned}
    by_address = [c for c in base.filter(emails__email=address).order_by(*order).distinct() if c.pk not in seen]
    return [(c, "assigned") for c in assigned] + [(c, "address") for c in by_address]


def _domain_candidates(address):
    found = []
    for domain in reversed(Domain.objects.lineage(address.rpartition("@")[2])):  # most specific first
        for cert in domain.certificates.filter(is_ca=False).order_by("-not_before", "-id"):
            found.append((cert, f"domain {domain.name}"))
    return found


def _select(candidates, usage, at, context):
    verdicts = []
    for cert, origin in candidates:
        problem, path = context.judge(cert, usage, at)
        verdicts.append(Verdict(cert, problem, origin, path))
    return verdicts


def encryption_certificates(address, at=None):
    """Every usable certificate to encrypt to `address`; the domain's
    certificates when the address has none."""
    at = at or timezone.now()
    context = TrustContext()
    verdicts = _select(_candidates(address, with_key=False), Usage.ENCRYPT, at, context)
    if not any(v.usable for v in verdicts):
        verdicts += _select(_domain_candidates(address), Usage.ENCRYPT, at, context)
    return Selection([v.certificate for v in verdicts if v.usable], verdicts)


def signing_identity(address, at=None):
    """The best usable certificate with a private key to sign as `address`
    (chosen[0]), or none."""
    at = at or timezone.now()
    verdicts = _select(_candidates(address, with_key=True), Usage.SIGN, at, TrustContext())
    return Selection([v.certificate for v in verdicts if v.usable][:1], verdicts)
