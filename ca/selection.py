"""Which certificates to use for an address, by strict PKI rules: trusted
(a path to one of our anchors), within validity, not revoked, not blocked,
and fit for the purpose. Every rejected candidate says why, for the trail
and the admin."""

from dataclasses import dataclass, field

from django.utils import timezone

from gateway.models import Domain

from .models import Certificate, CertificateEmail
from .trust import current as trust_context
from .validation import Usage


@dataclass
class Verdict:
    certificate: Certificate
    problem: str | None = None  # None: usable
    origin: str = ""  # "assigned", "address", "domain example.com"
    path: list = field(default_factory=list)
    warning: str | None = None  # usable, but worth saying (e.g. revocation status unknown)

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
            f"{v.certificate.subject} [{v.certificate.sha256[:16]}] ({v.origin}): "
            + (v.problem or "usable" + (f"; {v.warning}" if v.warning else ""))
            for v in self.verdicts
        ]


def _candidates(address, with_key):
    """Explicitly assigned certificates first, then those naming the address;
    newest first within each."""
    address = address.strip().lower()
    base = Certificate.objects.filter(is_ca=False)
    if with_key:
        base = base.filter(private_key__isnull=False)
    assigned = _newest_first(base.filter(users__email=address))
    seen = {c.pk for c in assigned}
    # A subquery, not a join with DISTINCT: that would sort whole rows.
    named = base.filter(pk__in=CertificateEmail.objects.filter(email=address).values("certificate_id"))
    by_address = [c for c in _newest_first(named) if c.pk not in seen]
    return [(c, "assigned") for c in assigned] + [(c, "address") for c in by_address]


def _newest_first(queryset):
    return sorted(queryset, key=lambda c: (c.not_before, c.pk), reverse=True)


def _domain_candidates(address):
    found = []
    for domain in reversed(Domain.objects.lineage(address.rpartition("@")[2])):  # most specific first
        for cert in domain.certificates.filter(is_ca=False).order_by("-not_before", "-id"):
            found.append((cert, f"domain {domain.name}"))
    return found


def _select(candidates, usage, at, context):
    verdicts = []
    for cert, origin in candidates:
        problem, path, warning = context.judge(cert, usage, at)
        verdicts.append(Verdict(cert, problem, origin, path, warning))
    return verdicts


def encryption_certificates(address, at=None):
    """Every usable certificate to encrypt to `address`; the domain's
    certificates when the address has none."""
    at = at or timezone.now()
    context = trust_context()
    verdicts = _select(_candidates(address, with_key=False), Usage.ENCRYPT, at, context)
    if not any(v.usable for v in verdicts):
        verdicts += _select(_domain_candidates(address), Usage.ENCRYPT, at, context)
    return Selection([v.certificate for v in verdicts if v.usable], verdicts)


def signing_identity(address, at=None):
    """The best usable certificate with a private key to sign as `address`
    (chosen[0]), or none."""
    at = at or timezone.now()
    verdicts = _select(_candidates(address, with_key=True), Usage.SIGN, at, trust_context())
    return Selection([v.certificate for v in verdicts if v.usable][:1], verdicts)
