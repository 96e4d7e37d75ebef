"""The fast path (cryptography's Rust verifier) takes the plain certificate
paths and leaves every other one to pyhanko: it never calls valid what
pyhanko refuses, and selection's verdicts stay what they were."""

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ca import selection, store, trust
from ca.fastpath import FastPath
from ca.models import RevocationList
from ca.validation import Usage, validate_path
from tests.support import pki
from tests.support.pki import DAY, NOW

CRL_URL = "http://crl.example/ca.crl"


def _ca(name, issuer, slot, *extensions, path_length=None, key_usage=None):
    """A CA certificate with what pki.make cannot add: name or policy
    constraints, a path length, a key usage of choice."""
    key = pki.key_for("rsa", slot)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + 365 * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False)
        .add_extension(key_usage or pki.key_usage(key_cert_sign=True, crl_sign=True), critical=True)
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return pki.Issued(builder.sign(issuer.key, hashes.SHA256()), key)


def _with_extension(issued, issuer, extension, critical):
    """`issued` again, with one more extension, signed by `issuer`."""
    cert = issued.cert
    builder = (
        x509.CertificateBuilder()
        .subject_name(cert.subject)
        .issuer_name(cert.issuer)
        .public_key(cert.public_key())
        .serial_number(cert.serial_number)
        .not_valid_before(cert.not_valid_before_utc)
        .not_valid_after(cert.not_valid_after_utc)
    )
    for ext in cert.extensions:
        builder = builder.add_extension(ext.value, critical=ext.critical)
    builder = builder.add_extension(extension, critical=critical)
    return pki.Issued(builder.sign(issuer.key, hashes.SHA256()), issued.key)


def _crl_of(issuer, revoked=()):
    return x509.load_der_x509_crl(pki.crl(issuer, revoked))


ROOT = pki.make("Root", ca=True, slot=1)
STRANGER = pki.make("Root", ca=True, slot=3)  # same name as the root, another key
INTERMEDIATE = pki.make("Intermediate", ROOT, ca=True, slot=2)


def _case(name):
    """(leaf, intermediates, crls) for each kind of path, plain or not."""
    bob = pki.make("Bob", INTERMEDIATE, email="bob@example.org")
    if name == "plain":
        return bob, [INTERMEDIATE], []
    if name == "plain, with a current CRL of the issuer":
        bob = pki.make("Bob", INTERMEDIATE, email="bob@example.org", crl_url=CRL_URL)
        return bob, [INTERMEDIATE], [_crl_of(INTERMEDIATE), _crl_of(ROOT)]
    if name == "wrong extended key usage":
        eku = (ExtendedKeyUsageOID.SERVER_AUTH,)
        return pki.make("Bob", INTERMEDIATE, email="bob@example.org", eku=eku), [INTERMEDIATE], []
    if name == "missing intermediate":
        return bob, [], []
    if name == "expired intermediate":
        old = pki.make("Intermediate", ROOT, ca=True, slot=2, not_before=NOW - 400 * DAY, not_after=NOW - DAY)
        return bob, [old], []
    if name == "intermediate may not sign certificates":
        weak = _ca("Intermediate", ROOT, 2, key_usage=pki.key_usage(digital_signature=True))
        return bob, [weak], []
    if name == "signed by a stranger of the same name":
        return pki.make("Bob", STRANGER, email="bob@example.org"), [], []
    if name == "path length exceeded":
        capped = _ca("Capped", ROOT, 2, path_length=0)
        below = _ca("Below", capped, 4)
        return pki.make("Bob", below, email="bob@example.org"), [capped, below], []
    if name == "name constraints exclude the address":
        permitted = x509.NameConstraints(permitted_subtrees=[x509.RFC822Name("example.com")], excluded_subtrees=None)
        narrow = _ca("Intermediate", ROOT, 2, (permitted, True))
        return bob, [narrow], []
    if name == "name constraints exclude the subject":
        # Non-critical, against RFC 5280: the Rust verifier then lets the
        # directory name pass, pyhanko still honours it. Only the list of
        # plain extensions keeps such a path from the fast path.
        subject = x509.DirectoryName(bob.cert.subject)
        excluded = x509.NameConstraints(permitted_subtrees=None, excluded_subtrees=[subject])
        return bob, [_ca("Intermediate", ROOT, 2, (excluded, False))], []
    if name == "policy constraints require a policy":
        constraints = x509.PolicyConstraints(require_explicit_policy=0, inhibit_policy_mapping=None)
        strict = _ca("Intermediate", ROOT, 2, (constraints, True))
        return bob, [strict], []
    if name == "unknown critical extension":
        odd = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00")
        return _with_extension(bob, INTERMEDIATE, odd, critical=True), [INTERMEDIATE], []
    if name == "intermediate revoked by a CRL it names":
        listed = pki.make("Intermediate", ROOT, ca=True, slot=2, crl_url=CRL_URL)
        return bob, [listed], [_crl_of(ROOT, [listed])]
    if name == "CRL of the issuer's name signed by a stranger":
        bob = pki.make("Bob", ROOT, email="bob@example.org", crl_url=CRL_URL)
        return bob, [], [_crl_of(STRANGER)]
    raise AssertionError(name)


PLAIN = ["plain", "plain, with a current CRL of the issuer", "wrong extended key usage"]
NOT_PLAIN = [
    "missing intermediate",
    "expired intermediate",
    "intermediate may not sign certificates",
    "signed by a stranger of the same name",
    "path length exceeded",
    "name constraints exclude the address",
    "name constraints exclude the subject",
    "policy constraints require a policy",
    "unknown critical extension",
    "intermediate revoked by a CRL it names",
    "CRL of the issuer's name signed by a stranger",
]


def _both(name):
    leaf, intermediates, crls = _case(name)
    fast = FastPath([ROOT.cert], [i.cert for i in intermediates]).path(leaf.cert, NOW, crls)
    slow = validate_path(
        leaf.cert,
        trust_roots=[ROOT.cert],
        intermediates=[i.cert for i in intermediates],
        at=NOW,
        usage=Usage.ENCRYPT,
        crls=[crl.public_bytes(Encoding.DER) for crl in crls],
    )
    return fast, slow


@pytest.mark.parametrize("name", PLAIN)
def test_plain_paths_are_taken_by_the_fast_path_with_pyhankos_path(name):
    fast, slow = _both(name)
    assert fast is not None
    assert [c.subject for c in fast] == [c.subject for c in slow.path]
    assert [c.subject.rfc4514_string() for c in fast] == ["CN=Bob", "CN=Intermediate", "CN=Root"]


@pytest.mark.parametrize("name", NOT_PLAIN)
def test_paths_pyhanko_refuses_are_left_to_it(name):
    fast, slow = _both(name)
    assert not slow.valid
    assert fast is None


def test_the_fast_path_honours_the_validation_time():
    bob, intermediates, _ = _case("plain")
    fast = FastPath([ROOT.cert], [i.cert for i in intermediates])
    assert fast.path(bob.cert, NOW) is not None
    assert fast.path(bob.cert, NOW + 400 * DAY) is None  # everything expired by then
    assert fast.path(bob.cert, bob.cert.not_valid_before_utc - DAY / 1000) is None  # a minute and a half early


def test_no_anchors_no_fast_path():
    bob, intermediates, _ = _case("plain")
    assert FastPath([], [i.cert for i in intermediates]).path(bob.cert, NOW) is None


# Selection end to end: the fast path is used, and verdicts keep their kind.


@pytest.fixture
def pyhanko_calls(monkeypatch):
    """Subjects of the certificates pyhanko was asked about."""
    calls = []
    real = trust.validate_path

    def counting(cert, **kwargs):
        calls.append(cert.subject.rfc4514_string())
        return real(cert, **kwargs)

    monkeypatch.setattr(trust, "validate_path", counting)
    return calls


@pytest.mark.django_db
def test_an_ordinary_recipient_is_chosen_without_pyhanko(pyhanko_calls):
    store.add_certificate(ROOT.der, trust_anchor=True)
    store.add_certificate(INTERMEDIATE.der)
    bob, _ = store.add_certificate(pki.make("Bob", INTERMEDIATE, email="bob@example.org").der)
    sel = selection.encryption_certificates("bob@example.org")
    assert sel.chosen == [bob]
    assert [c.subject.rfc4514_string() for c in sel.verdicts[0].path] == ["CN=Bob", "CN=Intermediate", "CN=Root"]
    assert pyhanko_calls == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "verdict"),
    [
        ("wrong extended key usage", "wrong usage: extended key usage does not include emailProtection"),
        ("expired intermediate", "untrusted: "),
        ("path length exceeded", "untrusted: "),
        ("name constraints exclude the address", "untrusted: "),
        ("intermediate revoked by a CRL it names", "revoked: "),
    ],
)
def test_bad_paths_get_the_same_kind_of_verdict(name, verdict, pyhanko_calls):
    leaf, intermediates, crls = _case(name)
    store.add_certificate(ROOT.der, trust_anchor=True)
    for issued in intermediates:
        store.add_certificate(issued.der)
    for crl in crls:
        RevocationList.objects.create(
            issuer=crl.issuer.rfc4514_string(),
            der=crl.public_bytes(Encoding.DER),
            this_update=crl.last_update_utc,
            next_update=crl.next_update_utc,
        )
    store.add_certificate(leaf.der)
    sel = selection.encryption_certificates("bob@example.org")
    assert sel.chosen == []
    assert sel.verdicts[0].problem.startswith(verdict)
    # Usage is judged after the path, by the same rule on either path.
    assert pyhanko_calls == ([] if name == "wrong extended key usage" else ["CN=Bob"])
