"""spool.store: everything of a message in one transaction, or nothing."""

import datetime
import hashlib

import pytest
from django.db import DatabaseError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from gateway import doorbell, spool
from gateway.models import MailUser, Message, RawMessage, Recipient
from gateway.spool_raw import load_raw
from tests.gateway.spool_failure import failing_recipients

RAW = (
    b"Received: from mx.example.org by relay (Postfix) with ESMTP id 4ABC; Sat, 28 Nov 2026 10:00:00 +0000\r\n"
    b"From: Alice <alice@example.org>\r\n"
    b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= aus\r\n"
    b" Berlin\r\n"
    b"\r\n"
    b"body \xe9\xe8 8bit\r\n"
)


def table_counts():
    return (Message.objects.count(), RawMessage.objects.count(), Recipient.objects.count(), MailUser.objects.count())


@pytest.mark.django_db
def test_store_keeps_envelope_bytes_and_recipients_in_order():
    message = spool.store(
        "Alice@Example.org",
        ["c@example.net", "b@example.net", "a@example.net"],
        RAW,
        client_address="192.0.2.10",
        client_helo="mx.example.org",
        mta_queue_id="4ABC",
    )

    message = Message.objects.get(pk=message.pk)
    assert message.state == Message.State.RECEIVED
    assert message.mail_from == "Alice@Example.org"
    assert (message.client_address, message.client_helo, message.mta_queue_id) == (
        "192.0.2.10",
        "mx.example.org",
        "4ABC",
    )
    assert message.size == len(RAW)
    assert message.sha256 == hashlib.sha256(RAW).hexdigest()
    assert message.subject == "Grüße aus Berlin"
    assert bytes(message.raw.data) == RAW
    assert list(message.recipients.values_list("address", "position")) == [
        ("c@example.net", 0),
        ("b@example.net", 1),
        ("a@example.net", 2),
    ]
    assert set(MailUser.objects.values_list("email", flat=True)) == {
        "alice@example.org",
        "a@example.net",
        "b@example.net",
        "c@example.net",
    }


@pytest.mark.django_db
def test_users_are_created_once_whatever_the_case():
    MailUser.objects.create(email="bob@example.net")
    spool.store("bounce-me@example.org", ["BOB@example.net"], RAW)
    spool.store("bounce-me@example.org", ["Bob@Example.net", "bob@example.net"], RAW)
    assert sorted(MailUser.objects.values_list("email", flat=True)) == ["bob@example.net", "bounce-me@example.org"]
    assert Recipient.objects.count() == 3


@pytest.mark.django_db
def test_null_sender_is_stored_empty_and_makes_no_user():
    message = spool.store("<>", ["postmaster@example.net"], RAW)
    assert Message.objects.get(pk=message.pk).mail_from == ""
    assert list(MailUser.objects.values_list("email", flat=True)) == ["postmaster@example.net"]


@pytest.mark.parametrize(
    ("head", "subject"),
    [
        (b"Subject: plain\r\n", "plain"),
        (b"Subject: raw utf-8 \xc3\xa9t\xc3\xa9\r\n", "raw utf-8 été"),
        (b"Subject: latin-1 \xe9t\xe9\r\n", "latin-1 \ufffdt\ufffd"),
        (b"Subject: nul\x00 and\x07 bell\r\n", "nul and bell"),
        (b"Subject: =?bogus?q?=ZZ?=\r\n", "=?bogus?q?=ZZ?="),
        (b"From: nobody@example.org\r\n", ""),
    ],
)
@pytest.mark.django_db
def test_subject_is_readable_text_whatever_the_header_holds(head, subject):
    message = spool.store("a@example.org", ["b@example.net"], head + b"\r\nbody\r\n")
    assert Message.objects.get(pk=message.pk).subject == subject


@pytest.mark.django_db
def test_subject_in_a_body_is_not_taken():
    message = spool.store("a@example.org", ["b@example.net"], b"From: a@example.org\r\n\r\nSubject: no\r\n")
    assert Message.objects.get(pk=message.pk).subject == ""


@pytest.mark.parametrize(
    ("mail_from", "rcpt_tos", "data", "error"),
    [
        ("a@example.org", [], RAW, ValueError),
        ("a@example.org", ["no-domain"], RAW, ValueError),
        ("not-an-address", ["b@example.net"], RAW, ValueError),
        ("a@example.org", ["b@example.net"], RAW.decode("latin-1"), TypeError),
    ],
)
@pytest.mark.django_db
def test_bad_input_is_refused_and_stores_nothing(mail_from, rcpt_tos, data, error):
    with pytest.raises(error):
        spool.store(mail_from, rcpt_tos, data)
    assert table_counts() == (0, 0, 0, 0)


@pytest.mark.django_db(transaction=True)
def test_failure_inside_the_transaction_leaves_nothing_behind():
    with failing_recipients() as prefix, pytest.raises(DatabaseError):
        spool.store("new-sender@example.org", ["fine@example.net", f"{prefix}@example.net"], RAW)
    assert table_counts() == (0, 0, 0, 0)
    # The same message goes through once the failure is gone (the MTA's retry).
    spool.store("new-sender@example.org", ["fine@example.net", "explode@example.net"], RAW)
    assert table_counts() == (1, 1, 2, 3)


@pytest.mark.django_db(transaction=True)
def test_doorbell_rings_after_commit_with_the_message_id(monkeypatch):
    rung = []

    def ring(message_id):
        # Called outside the transaction, with the rows already visible.
        rung.append((message_id, connection.in_atomic_block, Message.objects.filter(pk=message_id).exists()))

    monkeypatch.setattr(doorbell, "ring", ring, raising=False)
    message = spool.store("a@example.org", ["b@example.net"], RAW)
    assert rung == [(message.pk, False, True)]


@pytest.mark.django_db(transaction=True)
def test_a_broken_doorbell_does_not_undo_the_store(monkeypatch):
    def ring(message_id):
        raise ConnectionError("broker down")

    monkeypatch.setattr(doorbell, "ring", ring, raising=False)
    message = spool.store("a@example.org", ["b@example.net"], RAW)
    assert Message.objects.filter(pk=message.pk).exists()


def stored_rows(messages):
    """What the spool wrote for `messages`, but the ids it made and the update time."""
    rows = []
    for message in messages:
        row = Message.objects.filter(pk=message.pk).values().get()
        rows.append(
            (
                {k: v for k, v in row.items() if k not in {"id", "queue_id", "updated_at"}},
                load_raw(message.pk),
                list(
                    Recipient.objects.filter(message=message)
                    .order_by("position")
                    .values_list("address", "position", "direction", "bcc", "delivery_id", "state", "reply", "dsn_sent")
                ),
            )
        )
    return rows


@pytest.mark.django_db(transaction=True)
def test_small_messages_are_stored_in_one_statement_with_the_rows_the_orm_writes(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("the one-statement store is PostgreSQL's")
    received = timezone.now() - datetime.timedelta(minutes=3)
    envelopes = [
        {
            "mail_from": "Alice@Example.org",
            "rcpt_tos": ["c@example.net", "b@example.net", "a@example.net"],
            "data": RAW,
            "client_address": "192.0.2.10",
            "client_helo": "mx.example.org",
            "mta_queue_id": "4ABC",
            "received_at": received,
        },
        {"mail_from": "<>", "rcpt_tos": ["b@example.net"], "data": bytearray(b"x" * 100_000), "received_at": received},
    ]
    with CaptureQueriesContext(connection) as queries:
        first = spool.store_many(envelopes)
    assert [query["sql"].split()[0] for query in queries.captured_queries] == ["WITH"]
    assert not connection.in_atomic_block
    users = sorted(MailUser.objects.values_list("email", flat=True))
    assert users == ["a@example.net", "alice@example.org", "b@example.net", "c@example.net"]
    # The same through the ORM, with the users to be made again.
    MailUser.objects.all().delete()
    spool.forget_users()
    monkeypatch.setattr(spool.spool_statement, "fits", lambda checked: False)
    second = spool.store_many(envelopes)
    assert stored_rows(first) == stored_rows(second)
    assert sorted(MailUser.objects.values_list("email", flat=True)) == users
    assert stored_rows(first)[1][1] == b"x" * 100_000


@pytest.mark.django_db
def test_a_large_message_keeps_every_byte():
    data = RAW + bytes(range(256)) * 40_000 + b"\r\n"
    message = spool.store("a@example.org", ["b@example.net"], bytearray(data))
    stored = Message.objects.get(pk=message.pk)
    assert bytes(stored.raw.data) == data
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert load_raw(message.pk) == data


@pytest.mark.django_db
def test_load_raw_gives_back_exactly_what_was_stored():
    first = spool.store("a@example.org", ["b@example.net"], RAW)
    empty = spool.store("a@example.org", ["b@example.net"], b"")
    assert load_raw(first.pk) == RAW
    assert load_raw(empty.pk) == b""
    with pytest.raises(RawMessage.DoesNotExist):
        load_raw(empty.pk + 1000)


@pytest.mark.django_db
def test_a_user_seen_again_within_the_minute_is_not_written_again_and_a_new_one_is_made(
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):  # the store commits
        spool.store("alice@example.com", ["bob@example.org"], b"Subject: one\r\n\r\nx\r\n")
    # Were Alice and Bob written again, their rows would come back.
    MailUser.objects.filter(email__in=["alice@example.com", "bob@example.org"]).delete()
    with django_capture_on_commit_callbacks(execute=True):
        spool.store("alice@example.com", ["bob@example.org", "carol@example.org"], b"Subject: two\r\n\r\nx\r\n")
    assert set(MailUser.objects.values_list("email", flat=True)) == {"carol@example.org"}
    with CaptureQueriesContext(connection) as known:
        spool.store("alice@example.com", ["carol@example.org"], b"Subject: three\r\n\r\nx\r\n")
    # Nobody new: no user is written, not even as part of another statement.
    assert not any("gateway_mailuser" in query["sql"] for query in known.captured_queries)
    spool.forget_users()
    spool.store("alice@example.com", ["bob@example.org"], b"Subject: four\r\n\r\nx\r\n")
    assert set(MailUser.objects.values_list("email", flat=True)) == {
        "alice@example.com",
        "bob@example.org",
        "carol@example.org",
    }


HEADER_BLOCKS = {
    "encoded and folded": RAW,
    "address lists": b'From: "Doe, Jane" <jane@example.org>\r\nTo: a@x.test,\r\n b@y.test\r\n'
    b"Cc: Group: c@z.test;\r\n\r\n",
    "content type with parameters": b'Content-Type: multipart/signed; protocol="application/pkcs7-signature";\r\n'
    b' micalg=sha-256; boundary="----=_b"\r\nMIME-Version: 1.0\r\n\r\n',
    "a field twice": b"Subject: first\r\nSubject: second\r\nX-Tag: a\r\nx-tag: b\r\n\r\n",
    "broken fields": b"To: <unclosed@x.test\r\nContent-Type: text/\r\nDate: not a date\r\nbroken line\r\n\r\n",
    "8-bit and bare LF": b"Subject: caf\xc3\xa9\nFrom: \xe9@x.test\n\nbody\n",
    "no header at all": b"\r\njust a body\r\n",
}


@pytest.mark.parametrize("data", HEADER_BLOCKS.values(), ids=HEADER_BLOCKS.keys())
def test_headers_read_as_the_default_policy_parses_them(data):
    """read_headers parses the cheap way (compat32) and reads the default
    way: every field must come out as a parse under the default policy gives it."""
    import email.parser
    import email.policy

    expected = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(spool.header_block(data))
    headers = spool.read_headers(data)

    assert list(headers.raw_items()) == list(expected.raw_items())
    for name in set(expected.keys()):
        assert [(str(v), type(v).__name__) for v in headers.get_all(name)] == [
            (str(v), type(v).__name__) for v in expected.get_all(name)
        ]
        assert [list(map(repr, v.defects)) for v in headers.get_all(name)] == [
            list(map(repr, v.defects)) for v in expected.get_all(name)
        ]
    assert headers.get_content_type() == expected.get_content_type()
    assert headers.get_param("boundary") == expected.get_param("boundary")
