"""Revocation by CRL: fetched over HTTP and LDAP from local servers,
signature-checked, and honoured by selection."""

import pytest

from ca import crls, selection, store
from ca.models import RevocationList
from tests.support import pki
from tests.support.http_server import file_server
from tests.support.slapd import slapd  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def http_crl_server():
    with file_server() as served:
        yield served


def problem(address):
    return selection.encryption_certificates(address).verdicts[0].problem


def test_crl_over_http_revokes_and_is_refreshed(root, http_crl_server):
    base, files, requests = http_crl_server
    bob = pki.make("Bob", root, email="bob@example.org", crl_url=f"{base}/root.crl")
    store.add_certificate(bob.der)
    files["/root.crl"] = pki.crl(root, [])
    assert crls.refresh() == {"fetched": 1, "failed": 0}
    assert problem("bob@example.org") is None
    files["/root.crl"] = pki.crl(root, [bob])
    assert crls.refresh() == {"fetched": 1, "failed": 0}
    assert "revoked" in problem("bob@example.org")
    assert requests == ["/root.crl", "/root.crl"]
    assert RevocationList.objects.count() == 1


def test_crl_over_ldap_from_a_local_slapd(root, slapd):  # noqa: F811
    bob = pki.make("Bob", root, email="bob@example.org", crl_url=slapd.url("Root CA"))
    store.add_certificate(bob.der)
    assert problem("bob@example.org") is None
    slapd.start({"Root CA": pki.crl(root, [bob])})
    assert crls.refresh() == {"fetched": 1, "failed": 0}
    assert "revoked" in problem("bob@example.org")
    assert RevocationList.objects.get().url == slapd.url("Root CA")


def test_a_crl_signed_by_a_stranger_is_refused(root):
    stranger = pki.make("Root", ca=True, slot=3)  # same name, other key
    with pytest.raises(crls.CrlError, match="no certificate in the store signed"):
        crls.store_crl(pki.crl(stranger, []))
    assert RevocationList.objects.count() == 0


def test_unreachable_distribution_point_is_counted_not_fatal(root):
    store.add_certificate(pki.make("Bob", root, email="bob@example.org", crl_url="http://127.0.0.1:9/x.crl").der)
    assert crls.refresh() == {"fetched": 0, "failed": 1}
    assert problem("bob@example.org") is None  # unknown status: accepted (soft-fail)


def test_unknown_revocation_status_is_accepted_with_a_warning_or_rejected(root, settings):
    store.add_certificate(pki.make("Bob", root, email="bob@example.org", crl_url="http://crl.example/r.crl").der)
    verdict = selection.encryption_certificates("bob@example.org").verdicts[0]
    assert verdict.usable
    assert verdict.warning == "revocation status unknown: no current CRL for CN=Bob"
    assert "usable; revocation status unknown" in selection.encryption_certificates("bob@example.org").explain()[0]
    settings.LOCKPOST_REVOCATION_UNKNOWN = "reject"
    assert problem("bob@example.org").startswith("revocation status unknown")
    crls.store_crl(pki.crl(root, []))
    assert problem("bob@example.org") is None


def test_an_expired_crl_counts_as_unknown(root):
    store.add_certificate(pki.make("Bob", root, email="bob@example.org", crl_url="http://crl.example/r.crl").der)
    crls.store_crl(pki.crl(root, [], next_update=pki.NOW - pki.DAY / 2))
    assert selection.encryption_certificates("bob@example.org").verdicts[0].warning.startswith("revocation status")
