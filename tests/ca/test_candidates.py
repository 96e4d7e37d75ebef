"""The certificates selection considers for an address, read in one query."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ca import remember, selection, store
from ca.keys import private_key_for
from gateway.models import MailUser
from tests.support import pki
from tests.support.pki import DAY, NOW

pytestmark = pytest.mark.django_db


def origins(sel):
    return [(v.certificate.subject, v.origin) for v in sel.verdicts]


def test_a_certificate_assigned_and_naming_the_address_is_considered_once_as_assigned(root):
    both, _ = store.add_certificate(pki.make("Both", root, email="bob@example.org", not_before=NOW - 9 * DAY).der)
    named, _ = store.add_certificate(pki.make("Named", root, email="bob@example.org", slot=2).der)
    both.users.add(MailUser.objects.create(email="bob@example.org"))
    sel = selection.encryption_certificates(" Bob@Example.ORG ")
    assert origins(sel) == [("CN=Both", "assigned"), ("CN=Named", "address")]
    assert sel.chosen == [both, named]


def test_a_ca_certificate_naming_the_address_is_no_candidate(root):
    store.add_certificate(pki.make("Mail CA", root, ca=True, email="bob@example.org", slot=2).der)
    assert selection.encryption_certificates("bob@example.org").verdicts == []


def test_candidates_come_back_whole(root):
    issued = pki.make("Bob", root, email="bob@example.org", crl_url="http://crl.example/root.crl")
    stored, _ = store.add_certificate(issued.der)
    found = selection.encryption_certificates("bob@example.org").chosen[0]
    assert found == stored
    assert bytes(found.der) == issued.der
    assert found.crl_urls == ["http://crl.example/root.crl"]  # JSON read back as a list
    assert found.key_usage == stored.key_usage
    assert found.not_after == stored.not_after


def test_signing_candidates_need_a_key_whichever_way_they_are_found(root):
    keyless, _ = store.add_certificate(pki.make("Keyless", root, email="alice@example.com").der)
    keyless.users.add(MailUser.objects.create(email="alice@example.com"))
    assert selection.signing_identity("alice@example.com").verdicts == []
    signer = pki.make("Signer", root, email="alice@example.com", slot=2)
    stored, _ = store.add_certificate(signer.der)
    store.add_private_key(stored, signer.key)
    assert selection.signing_identity("alice@example.com").chosen == [stored]


def test_a_signing_candidate_comes_with_its_key_read_in_the_same_query(root):
    signer = pki.make("Signer", root, email="alice@example.com")
    stored, _ = store.add_certificate(signer.der)
    store.add_private_key(stored, signer.key)
    chosen = selection.signing_identity("alice@example.com").chosen[0]
    with CaptureQueriesContext(connection) as queries:
        key = private_key_for(chosen)
    assert len(queries) == 0
    assert key.private_numbers() == signer.key.private_numbers()


def test_while_remembering_an_address_is_read_once_and_afterwards_afresh(root):
    bob, _ = store.add_certificate(pki.make("Bob", root, email="bob@example.org").der)
    with remember.remembering():
        assert selection.encryption_certificates("bob@example.org").chosen == [bob]
        with CaptureQueriesContext(connection) as again:
            assert selection.encryption_certificates("Bob@Example.org").chosen == [bob]
        assert [q["sql"] for q in again.captured_queries if "candidates" in q["sql"] or "certificate" in q["sql"]] == []
    newer, _ = store.add_certificate(pki.make("Bob 2", root, email="bob@example.org", slot=2).der)
    assert set(selection.encryption_certificates("bob@example.org").chosen) == {bob, newer}


def test_while_remembering_an_address_is_judged_once_unless_a_time_is_given(root, monkeypatch):
    bob, _ = store.add_certificate(pki.make("Bob", root, email="bob@example.org").der)
    signer = pki.make("Alice", root, email="alice@example.org")
    alice, _ = store.add_certificate(signer.der)
    store.add_private_key(alice, signer.key)
    judged = []
    judge = type(selection.trust_context()).judge

    def counted(context, cert, usage, at):
        judged.append(cert.pk)
        return judge(context, cert, usage, at)

    monkeypatch.setattr(type(selection.trust_context()), "judge", counted)
    with remember.remembering():
        first = selection.encryption_certificates("bob@example.org")
        assert selection.encryption_certificates("BOB@example.org") is first
        assert selection.signing_identity("alice@example.org").chosen == [alice]
        assert selection.signing_identity("alice@example.org").chosen == [alice]
        assert judged == [bob.pk, alice.pk]  # once each
        # A given time is a question of its own: judged for it.
        later = selection.encryption_certificates("bob@example.org", at=NOW + 5000 * DAY)
        assert (later.chosen, judged) == ([], [bob.pk, alice.pk, bob.pk])
    selection.encryption_certificates("bob@example.org")
    assert judged == [bob.pk, alice.pk, bob.pk, bob.pk]  # outside a block: judged again


def _lookups_prepared():
    """How often the server ran its prepared candidate lookup (None: not prepared)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans + custom_plans FROM pg_prepared_statements WHERE statement LIKE %s",
            ["%candidate_assigned%"],
        )
        rows = cursor.fetchall()
    assert len(rows) <= 1, rows  # one prepared statement for the lookup, whatever the address
    return rows[0][0] if rows else None


def test_the_lookup_is_prepared_once_it_has_run_a_few_times_whatever_the_address(root):
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # as on a new connection (the driver forgets its own too)
    threshold = connection.connection.prepare_threshold
    if threshold is None:  # the default is tested in tests/gateway/test_database_settings.py
        pytest.skip("preparing is off (LOCKPOST_DB_PREPARE_THRESHOLD=off)")
    bob, _ = store.add_certificate(pki.make("Bob", root, email="bob@example.org").der)
    carol, _ = store.add_certificate(pki.make("Carol", root, email="carol@example.org", slot=2).der)
    for _ in range(threshold):
        selection.encryption_certificates("carol@example.org")
    assert _lookups_prepared() is None  # not yet: only what runs again and again
    assert selection.encryption_certificates("bob@example.org").chosen == [bob]
    assert _lookups_prepared() == 1
    for address, cert in [("carol@example.org", carol), ("bob@example.org", bob), ("dave@example.org", None)]:
        assert selection.encryption_certificates(address).chosen == ([cert] if cert else [])
    assert _lookups_prepared() == 4  # run prepared, not parsed and planned again
