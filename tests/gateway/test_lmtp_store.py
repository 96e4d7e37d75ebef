"""The LMTP listener's store: messages handed over at the same moment share
a transaction, each session still gets its own answer, and one bad message
makes no other one fail."""

import asyncio
import concurrent.futures

import psycopg
import pytest
from django.db import DatabaseError, connection, connections

from gateway import lmtp_store, spool
from gateway.models import Message, RawMessage, Recipient
from tests.gateway.spool_failure import DISK_FULL, full_disk
from tests.support.gateway_process import database_url
from tests.support.spooled import mail_bytes

pytestmark = pytest.mark.django_db(transaction=True)


def envelope(n, rcpt="bob@example.org", size=None):
    data = mail_bytes("alice@example.com", to=[rcpt], subject=f"number {n}")
    if size:
        data += b"x" * size + b"\r\n"
    return {"mail_from": "alice@example.com", "rcpt_tos": [rcpt], "data": data}


@pytest.fixture
def batches(monkeypatch):
    """The size of each transaction spool.store_many wrote (it still writes)."""
    sizes = []
    store_many = spool.store_many

    def recorded(envelopes):
        sizes.append(len(envelopes))
        return store_many(envelopes)

    monkeypatch.setattr(spool, "store_many", recorded)
    return sizes


def hand_over(envelopes, **options):
    """What each session gets back when all hand their message over at once."""

    async def sessions():
        store = lmtp_store.BatchingStore(executor, **options)
        return await asyncio.gather(*(store.store(e) for e in envelopes), return_exceptions=True)

    # The writers close their database connections themselves (close_old_connections).
    with concurrent.futures.ThreadPoolExecutor(lmtp_store.WRITERS) as executor:
        return asyncio.run(sessions())


def test_messages_waiting_together_are_stored_in_one_transaction_each_with_its_own_answer(batches):
    envelopes = [envelope(n) for n in range(6)]

    results = hand_over(envelopes, writers=1)

    # The first finds the writer free and goes alone; the other five waited for it.
    assert batches == [1, 5]
    assert len({m.queue_id for m in results}) == 6
    for n, message in enumerate(results):
        stored = Message.objects.get(queue_id=message.queue_id)
        assert stored.subject == f"number {n}"
        assert bytes(RawMessage.objects.get(message=stored).data) == envelopes[n]["data"]
        assert list(stored.recipients.values_list("address", flat=True)) == ["bob@example.org"]


def test_a_bad_message_fails_alone_and_the_others_are_stored(batches):
    envelopes = [envelope(0), envelope(1), envelope(2, rcpt="no-at-sign"), envelope(3)]

    results = hand_over(envelopes, writers=1)

    assert isinstance(results[2], ValueError)
    good = [r for n, r in enumerate(results) if n != 2]
    assert all(isinstance(r, Message) for r in good)
    assert Message.objects.count() == 3
    assert sorted(Message.objects.values_list("subject", flat=True)) == ["number 0", "number 1", "number 3"]


def test_a_large_message_ends_a_batch(batches):
    envelopes = [envelope(0), envelope(1), envelope(2, size=600_000), envelope(3, size=600_000), envelope(4)]

    hand_over(envelopes, writers=1, most_bytes=1024 * 1024)

    # 0 alone; then 1 and the first large one; the second large one would pass the limit: it starts the next.
    assert batches == [1, 2, 2]
    assert Message.objects.count() == 5


def test_when_the_database_fails_every_waiting_session_gets_the_error_and_nothing_is_half_written(batches):
    with full_disk():
        results = hand_over([envelope(n) for n in range(3)], writers=1)

    assert batches == [1, 2, 1, 1]  # the two that waited together were tried again alone
    assert all(isinstance(r, DatabaseError) and DISK_FULL in str(r) for r in results), results
    assert Message.objects.count() == 0
    assert Recipient.objects.count() == 0


def in_one_thread(*calls):
    """Run the calls one after the other in a thread of their own (one
    database connection, kept as the gateway keeps it); their results."""
    with concurrent.futures.ThreadPoolExecutor(1) as thread:
        results = [thread.submit(call).result() for call in calls]
        thread.submit(lambda: connection.close()).result()
    return results


@pytest.fixture
def kept_connections(monkeypatch):
    """Connections kept as the gateway keeps them; counts the health checks."""
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 300)
    checks = []
    wrapper = type(connections[connection.alias])
    is_usable = wrapper.is_usable

    def counted(self):
        checks.append(self.alias)
        return is_usable(self)

    monkeypatch.setattr(wrapper, "is_usable", counted)
    return checks


def test_a_kept_connection_is_checked_once_a_second_not_before_every_batch(kept_connections, monkeypatch):
    def store(n):
        return lambda: lmtp_store.store_together([envelope(n)])

    in_one_thread(*[store(n) for n in range(4)])
    assert len(kept_connections) == 0  # a new connection needs no check
    monkeypatch.setattr(lmtp_store, "CHECK_EVERY", 0)
    in_one_thread(*[store(n) for n in range(4, 7)])
    assert len(kept_connections) == 2  # before each batch on the kept connection
    assert Message.objects.count() == 7


def test_a_connection_the_database_dropped_fails_one_batch_and_the_next_has_a_new_one(kept_connections):
    if connection.vendor != "postgresql":
        pytest.skip("a server that drops connections")

    def drop_own_connection():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        with psycopg.connect(database_url(), autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s)", [pid])

    first, _, failed, after = in_one_thread(
        lambda: lmtp_store.store_together([envelope(0)]),
        drop_own_connection,
        lambda: lmtp_store.store_together([envelope(1)]),
        lambda: lmtp_store.store_together([envelope(2)]),
    )
    assert isinstance(first[0], Message)
    assert isinstance(failed[0], DatabaseError)  # within the second: answered 4xx, the MTA sends again
    assert isinstance(after[0], Message)
    assert sorted(Message.objects.values_list("subject", flat=True)) == ["number 0", "number 2"]
