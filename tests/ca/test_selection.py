"""Which certificate the gateway picks for an address, and why it rejects
the others."""

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID

from ca import selection, store
from ca.models import Certificate, RevocationList, TrustListEntry
from gateway.models import Domain, MailUser
from tests.support import pki
from tests.support.pki import DAY, NOW

pytestmark = pytest.mark.django_db


@pytest.fixture
def intermediate(root):
    issued = pki.make("Intermediate", root, ca=True, slot=2)
    store.add_certificate(issued.der)
    return issued


def add(issued, key=False):
    cert, _ = store.add_certificate(issued.der)
    if key:
        store.add_private_key(cert, issued.key)
    return cert


def verdicts(sel):
    return {v.certificate.subject.split("=", 1)[1]: v.problem for v in sel.verdicts}


def test_valid_certificate_through_an_intermediate_is_chosen(intermediate):
    cert = add(pki.make("Bob", intermediate, email="bob@example.org"))
    sel = selection.encryption_certificates("Bob@Example.org")
    assert sel.chosen == [cert]
    assert len(sel.verdicts[0].path) == 3  # Bob, the intermediate, the root


def test_missing_intermediate_means_untrusted(root):
    hidden = pki.make("Hidden CA", root, ca=True, slot=2)
    add(pki.make("Bob", hidden, email="bob@example.org"))
    sel = selection.encryption_certificates("bob@example.org")
    assert sel.chosen == []
    assert verdicts(sel)["Bob"].startswith("untrusted")


def test_untrusted_root_is_rejected():
    stranger = pki.make("Stranger Root", ca=True, slot=3)
    store.add_certificate(stranger.der)  # stored, but not an anchor
    add(pki.make("Bob", stranger, email="bob@example.org"))
    assert verdicts(selection.encryption_certificates("bob@example.org"))["Bob"].startswith("untrusted")


def test_expired_and_not_yet_valid_are_rejected(root):
    add(pki.make("Old", root, email="bob@example.org", not_before=NOW - 400 * DAY, not_after=NOW - DAY))
    add(pki.make("Future", root, email="bob@example.org", not_before=NOW + DAY, not_after=NOW + 9 * DAY))
    found = verdicts(selection.encryption_certificates("bob@example.org"))
    assert found["Old"].startswith("expired")
    assert found["Future"].startswith("not yet valid")


def test_validation_time_is_honoured(root):
    cert = add(pki.make("Old", root, email="bob@example.org", not_before=NOW - 400 * DAY, not_after=NOW - DAY))
    assert selection.encryption_certificates("bob@example.org", at=NOW - 10 * DAY).chosen == [cert]


def test_wrong_key_usage_or_eku_is_rejected_for_that_purpose(root):
    add(pki.make("SignOnly", root, email="bob@example.org", key_usage=pki.key_usage(digital_signature=True)))
    add(pki.make("ServerAuth", root, email="bob@example.org", eku=(ExtendedKeyUsageOID.SERVER_AUTH,)))
    found = verdicts(selection.encryption_certificates("bob@example.org"))
    assert found["SignOnly"].startswith("wrong usage")
    assert found["ServerAuth"].startswith("wrong usage")


@pytest.mark.parametrize("crl_url", [None, "http://crl.example/root.crl"])
def test_revoked_by_a_stored_crl(root, crl_url):
    bob = pki.make("Bob", root, email="bob@example.org", crl_url=crl_url)
    add(bob)
    RevocationList.objects.create(issuer="Root", der=pki.crl(root, [bob]), this_update=NOW - DAY)
    assert "revoked" in verdicts(selection.encryption_certificates("bob@example.org"))["Bob"]


def test_an_intermediate_revoked_by_a_stored_crl_takes_its_leaves_with_it(root, intermediate):
    # Neither names a distribution point: the CRL we hold covers them all the same.
    add(pki.make("Bob", intermediate, email="bob@example.org"))
    assert selection.encryption_certificates("bob@example.org").chosen
    RevocationList.objects.create(issuer="Root", der=pki.crl(root, [intermediate]), this_update=NOW - DAY)
    sel = selection.encryption_certificates("bob@example.org")
    assert sel.chosen == []
    assert verdicts(sel)["Bob"].startswith("revoked: intermediate CN=Intermediate")


def test_blocked_wins_and_allowed_skips_the_path():
    stranger = pki.make("Stranger Root", ca=True, slot=3)
    allowed = add(pki.make("Allowed", stranger, email="bob@example.org"))
    blocked = add(pki.make("Blocked", stranger, email="bob@example.org", slot=4))
    TrustListEntry.objects.create(sha256=allowed.sha256, action="allow", reason="verified by phone")
    TrustListEntry.objects.create(sha256=blocked.sha256, action="block", reason="key compromised")
    sel = selection.encryption_certificates("bob@example.org")
    assert sel.chosen == [allowed]
    assert verdicts(sel)["Blocked"] == "blocked by the trust list: key compromised"


def test_domain_certificate_is_the_fallback(root):
    domain = Domain.objects.create(name="partner.example")
    gateway_cert = add(pki.make("Partner Gateway", root, email="gateway@partner.example"))
    gateway_cert.domains.add(domain)
    assert selection.encryption_certificates("anyone@partner.example").chosen == [gateway_cert]
    own = add(pki.make("Anyone", root, email="anyone@partner.example", slot=2))
    assert selection.encryption_certificates("anyone@partner.example").chosen == [own]


def test_several_certificates_assigned_first_then_newest(root):
    older = add(pki.make("Older", root, email="bob@example.org", not_before=NOW - 30 * DAY))
    newer = add(pki.make("Newer", root, email="bob@example.org", not_before=NOW - 2 * DAY, slot=2))
    assigned = add(pki.make("Assigned", root, email="other@example.org", not_before=NOW - 60 * DAY, slot=3))
    assigned.users.add(MailUser.objects.create(email="bob@example.org"))
    assert selection.encryption_certificates("bob@example.org").chosen == [assigned, newer, older]


def test_signing_identity_needs_a_private_key_and_signing_usage(root):
    add(pki.make("No Key", root, email="alice@example.com"))
    enc_only = pki.make(
        "Encrypt Only", root, email="alice@example.com", slot=2, key_usage=pki.key_usage(key_encipherment=True)
    )
    add(enc_only, key=True)
    assert selection.signing_identity("alice@example.com").chosen == []
    good = add(pki.make("Signer", root, email="alice@example.com", slot=3), key=True)
    sel = selection.signing_identity("alice@example.com")
    assert sel.chosen == [good]
    assert verdicts(sel)["Encrypt Only"].startswith("wrong usage")
    assert Certificate.objects.count() == 4
