"""Which certificates to use for an address, by strict PKI rules: trusted
(a path to one of our anchors), within validity, not revoked, not blocked,
and fit for the purpose. Every rejected candidate says why, for the trail
and the admin."""

import functools
from dataclasses import dataclass, field

from django.db import connection
from django.utils import timezone

from gateway.models import Domain, MailUser

from .models import Certificate, CertificateEmail, PrivateKey
from .remember import remembered
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
    newest first within each. One query: selection runs for every recipient
    (and once a batch, see ca.remember)."""
    address = address.strip().lower()
    # A list of its own: the caller may reorder or extend it.
    return list(remembered(("candidates", address, with_key), lambda: _read_candidates(address, with_key)))


def _read_candidates(address, with_key):
    rows = _query(with_key, [address, address])
    rows.sort(key=lambda row: (row[1], row[0].not_before, row[0].pk), reverse=True)
    seen = set()
    found = []
    for cert, assigned in rows:
        # A certificate both assigned and naming the address counts as assigned (its row sorts first).
        if cert.pk not in seen:
            seen.add(cert.pk)
            found.append((cert, "assigned" if assigned else "address"))
    return found


def _query(with_key, params):
    """(Certificate, whether assigned) for each candidate row."""
    # One query text whatever the address: on PostgreSQL the driver prepares
    # it (settings: prepare_threshold), so it is planned once per connection,
    # not for every recipient (planning took four times as long as the lookup).
    with connection.cursor() as cursor:
        cursor.execute(_candidates_sql(with_key), params)
        rows = cursor.fetchall()
    found = []
    width = len(Certificate._meta.concrete_fields)
    for row in rows:
        cert = _instance(Certificate, row[:width])
        if with_key:
            # Read with the certificate: signing needs it next, and the
            # relation would cost a query of its own.
            Certificate.private_key.related.set_cached_value(cert, _instance(PrivateKey, row[width:-1]))
        found.append((cert, row[-1]))
    return found


def _instance(model, row):
    names, converters = _row_reading(model)
    values = list(row)
    for i, col, functions in converters:
        for function in functions:
            values[i] = function(values[i], col, connection)
    return model.from_db(connection.alias, names, values)


@functools.cache
def _row_reading(model):
    # What Django's compiler does for each column it reads (JSON text to
    # lists, SQLite's dates), worked out once.
    fields = model._meta.concrete_fields
    converters = []
    for i, model_field in enumerate(fields):
        col = model_field.get_col(model._meta.db_table)
        functions = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
        if functions:
            converters.append((i, col, functions))
    return [f.attname for f in fields], converters


@functools.cache
def _candidates_sql(with_key):
    # Two index lookups joined by UNION ALL: with OR, PostgreSQL would scan
    # every certificate. The address is bound once a branch. Only our own
    # table and column names go into the text.
    quote = connection.ops.quote_name
    columns = ", ".join(f"c.{quote(f.column)}" for f in Certificate._meta.concrete_fields)
    certificates = quote(Certificate._meta.db_table)
    assignments = Certificate.users.through._meta
    users = quote(MailUser._meta.db_table)
    emails = quote(CertificateEmail._meta.db_table)
    with_keys = ""
    if with_key:
        # Only certificates with a key, and the key's row along with each.
        columns += "".join(f", k.{quote(f.column)}" for f in PrivateKey._meta.concrete_fields)
        with_keys = f" JOIN {quote(PrivateKey._meta.db_table)} k ON k.certificate_id = c.id"
    return (
        f"SELECT {columns}, true AS candidate_assigned FROM {certificates} c{with_keys}"  # noqa: S608
        f" JOIN {quote(assignments.db_table)} a ON a.certificate_id = c.id"
        f" JOIN {users} u ON u.id = a.mailuser_id"
        " WHERE u.email = %s AND NOT c.is_ca"
        f" UNION ALL SELECT {columns}, false FROM {certificates} c{with_keys}"
        f" JOIN {emails} e ON e.certificate_id = c.id"
        " WHERE e.email = %s AND NOT c.is_ca"
    )


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
    certificates when the address has none. Judged now unless `at` says
    when; judged once a batch (see _judged_now)."""
    if at is None:
        return _judged_now("encrypt", address, _encryption_certificates)
    return _encryption_certificates(address, at)


def _encryption_certificates(address, at):
    context = trust_context()
    verdicts = _select(_candidates(address, with_key=False), Usage.ENCRYPT, at, context)
    if not any(v.usable for v in verdicts):
        verdicts += _select(_domain_candidates(address), Usage.ENCRYPT, at, context)
    return Selection([v.certificate for v in verdicts if v.usable], verdicts)


def signing_identity(address, at=None):
    """The best usable certificate with a private key to sign as `address`
    (chosen[0]), or none. Judged now unless `at` says when; judged once a
    batch (see _judged_now)."""
    if at is None:
        return _judged_now("sign", address, _signing_identity)
    return _signing_identity(address, at)


def _signing_identity(address, at):
    verdicts = _select(_candidates(address, with_key=True), Usage.SIGN, at, trust_context())
    return Selection([v.certificate for v in verdicts if v.usable][:1], verdicts)


def _judged_now(purpose, address, select):
    """select(address, now), once for each address within a ca.remember block
    (a worker batch, well under a second): a sender, or a recipient met again
    in the batch, is not judged again, as the batch reads its policy once.
    Callers must not change the Selection: later ones share it."""
    key = ("judged", purpose, address.strip().lower())
    return remembered(key, lambda: select(address, timezone.now()))
