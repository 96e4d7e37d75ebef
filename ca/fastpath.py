"""A quick first opinion on a certificate path, from cryptography's Rust
verifier: a tenth of the time pyhanko takes for a certificate it has not
seen before, which is every certificate when mail goes to many people.

It only ever says "valid, by this path", and only for the plain case: no
extension on the path that the Rust verifier does not judge as pyhanko
would (name constraints, policy constraints and the like), no CRL on the
path that pyhanko would weigh differently. Anything else, including every
rejection, gets None: pyhanko then decides, and its verdict words stay the
ones the trail and the admin know. The Rust verifier is stricter than RFC
5280 (X.509 v3 only, CA/B algorithms and key sizes, validity of the anchor
too), never laxer for the paths let through here."""

import itertools

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import verification
from cryptography.x509.oid import ExtensionOID

# Extensions both validators treat alike on every certificate of a path.
# Anything else (name constraints, policy constraints or mappings, inhibit
# anyPolicy, unknown ones) sends the path to pyhanko.
PLAIN_EXTENSIONS = frozenset(
    {
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.KEY_USAGE,
        ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
        ExtensionOID.ISSUER_ALTERNATIVE_NAME,
        ExtensionOID.CRL_DISTRIBUTION_POINTS,
        ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
        ExtensionOID.CERTIFICATE_POLICIES,
    }
)
STRONG_HASHES = (hashes.SHA256, hashes.SHA384, hashes.SHA512)


def _ca_key_usage(policy, cert, key_usage):
    # RFC 5280 6.1.4 (n): a CA's key usage, when present, must allow signing certificates.
    if key_usage is not None and not key_usage.key_cert_sign:
        raise ValueError("CA key usage lacks keyCertSign")


def _policies():
    """Extension policies as RFC 5280 has them, which is what pyhanko checks:
    a CA needs no key usage (roots often have none), and extended key
    usage is S/MIME's business, judged afterwards by usage_problem."""
    agnostic = verification.Criticality.AGNOSTIC
    ca = (
        verification.ExtensionPolicy.webpki_defaults_ca()
        .may_be_present(x509.KeyUsage, agnostic, _ca_key_usage)
        .may_be_present(x509.ExtendedKeyUsage, agnostic, None)
    )
    ee = (
        verification.ExtensionPolicy.webpki_defaults_ee()
        .may_be_present(x509.AuthorityKeyIdentifier, agnostic, None)
        .may_be_present(x509.SubjectAlternativeName, agnostic, None)
        .may_be_present(x509.ExtendedKeyUsage, agnostic, None)
    )
    return ca, ee


def _plain(cert):
    try:
        return all(ext.oid in PLAIN_EXTENSIONS for ext in cert.extensions)
    except ValueError:  # an extension cryptography cannot parse
        return False


def _names_crl(cert):
    return any(ext.oid == ExtensionOID.CRL_DISTRIBUTION_POINTS for ext in cert.extensions)


class FastPath:
    """The Rust verifier over one set of anchors and intermediates (those of
    a TrustContext), with what it learnt about the CRLs it was shown."""

    def __init__(self, anchors, intermediates):
        self.anchors = list(anchors)
        self.intermediates = list(intermediates)
        # The verifier hands back the very objects it was given: the CAs'
        # extensions are looked at once, here, not on every path.
        self._plain_cas = {id(c) for c in [*self.anchors, *self.intermediates] if _plain(c)}
        try:
            self.store = verification.Store(self.anchors)
        except ValueError:  # no anchors, or one the Rust verifier cannot take: pyhanko alone
            self.store = None
        self.ca_policy, self.ee_policy = _policies()
        self._verifiers = {}
        self._plain_crls = {}

    def _verifier(self, at):
        minute = at.replace(second=0, microsecond=0)
        verifier = self._verifiers.get(minute)
        if verifier is None:
            if len(self._verifiers) > 64:
                self._verifiers.clear()
            verifier = self._verifiers[minute] = (
                verification.PolicyBuilder()
                .store(self.store)
                .time(minute)
                .extension_policies(ca_policy=self.ca_policy, ee_policy=self.ee_policy)
                .build_client_verifier()
            )
        return verifier

    def path(self, leaf, at, crls=()):
        """The path (leaf first, anchor last) when `leaf` is plainly valid
        at `at` with the current CRLs `crls` (parsed); else None, for
        pyhanko to decide."""
        if self.store is None:
            return None
        try:
            chain = self._verifier(at).verify(leaf, self.intermediates).chain
        except Exception:  # any refusal or oddity: pyhanko decides
            return None
        if len(chain) < 2 or not _plain(leaf) or not all(id(c) in self._plain_cas for c in chain[1:]):
            return None
        # The verifier judged validity at the start of the minute: now to the second.
        if not all(c.not_valid_before_utc <= at <= c.not_valid_after_utc for c in chain):
            return None
        for cert, issuer in itertools.pairwise(chain):
            if not self._crls_agree(cert, issuer, crls):
                return None
        return chain

    def _crls_agree(self, cert, issuer, crls):
        """Whether pyhanko would find `cert` unrevoked by `crls` without
        doubt: none lists it, and those it would consult are plain CRLs
        signed by its issuer."""
        for crl in crls:
            if crl.issuer != cert.issuer:
                continue
            if crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None:
                return False
            # pyhanko weighs a CRL only for a certificate that names a
            # distribution point; then a CRL it cannot verify fails the path.
            if _names_crl(cert) and not self._plain_crl(crl, issuer):
                return False
        return True

    def _plain_crl(self, crl, issuer):
        key = (crl.fingerprint(hashes.SHA256()), issuer.fingerprint(hashes.SHA256()))
        plain = self._plain_crls.get(key)
        if plain is None:
            plain = self._plain_crls[key] = _plain_crl(crl, issuer)
        return plain


def _plain_crl(crl, issuer):
    """A complete, direct CRL signed by `issuer` with a strong hash, with no
    extension that could narrow or widen what it covers."""
    try:
        if crl.next_update_utc is None or not isinstance(crl.signature_hash_algorithm, STRONG_HASHES):
            return False
        if any(ext.critical or ext.oid not in _PLAIN_CRL_EXTENSIONS for ext in crl.extensions):
            return False
        if any(ext.critical for entry in crl for ext in entry.extensions):
            return False
        try:
            usage = issuer.extensions.get_extension_for_class(x509.KeyUsage).value
            if not usage.crl_sign:
                return False
        except x509.ExtensionNotFound:
            pass
        return crl.is_signature_valid(issuer.public_key())
    except Exception:  # anything odd: not plain
        return False


_PLAIN_CRL_EXTENSIONS = frozenset({ExtensionOID.CRL_NUMBER, ExtensionOID.AUTHORITY_KEY_IDENTIFIER})
