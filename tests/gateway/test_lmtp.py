"""LMTP conversations with the live listener, as an MTA has them."""

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, transaction

from gateway.lmtp import Listener, parse_hostport
from gateway.lmtp_client import LMTPClient, ProtocolError, send, wire_format
from gateway.models import MailUser, Message, RawMessage, Recipient
from tests.gateway.spool_failure import failing_recipients

LIMIT = 200_000
RAW = (
    b"From: Alice <alice@example.org>\r\n"
    b"To: bob@example.net\r\n"
    b"Subject: quarterly figures\r\n"
    b"\r\n"
    b"Hello Bob,\r\n"
    b".a line that starts with a dot\r\n"
    b".\r\n"
    b"..\r\n"
    b"bye\r\n"
)


@pytest.fixture
def listener(transactional_db):
    # The listener stores from its own threads: they must see committed rows.
    server = Listener(lmtp="127.0.0.1:0", smtp="127.0.0.1:0", max_size=LIMIT).start()
    yield server
    server.stop(grace=5)


def codes(replies):
    return [reply.code for reply in replies]


def stored():
    return Message.objects.count(), RawMessage.objects.count(), Recipient.objects.count()


def test_each_recipient_gets_its_own_reply_after_data(listener):
    replies = send(*listener.lmtp_address, "alice@example.org", ["bob@example.net", "carol@example.net"], RAW)

    assert codes(replies) == [250, 250]
    message = Message.objects.get()
    for reply, address in zip(replies, ["bob@example.net", "carol@example.net"], strict=True):
        assert reply.text == f"2.0.0 <{address}> Ok: queued as {message.queue_id}"
    assert bytes(message.raw.data) == RAW
    assert message.mail_from == "alice@example.org"
    assert message.subject == "quarterly figures"
    assert message.state == Message.State.RECEIVED
    assert message.client_address == "127.0.0.1"
    assert message.client_helo == "localhost"
    assert list(message.recipients.values_list("address", flat=True)) == ["bob@example.net", "carol@example.net"]
    assert MailUser.objects.filter(email="carol@example.net").exists()


def test_a_recipient_refused_at_rcpt_leaves_the_others_accepted(listener):
    rcpts = ["bob@example.net", "no-domain", "carol@example.net", "@example.net", "dave@example.net"]
    replies = send(*listener.lmtp_address, "alice@example.org", rcpts, RAW)

    assert codes(replies) == [250, 501, 250, 553, 250]
    assert replies[1].text.startswith("5.1.3")
    message = Message.objects.get()
    assert list(message.recipients.values_list("address", flat=True)) == [
        "bob@example.net",
        "carol@example.net",
        "dave@example.net",
    ]


def test_hello_advertises_what_the_mta_needs(listener):
    with LMTPClient(*listener.lmtp_address) as client:
        extensions = client.extensions
    assert extensions["SIZE"] == str(LIMIT)
    assert {"8BITMIME", "PIPELINING", "ENHANCEDSTATUSCODES", "XFORWARD"} <= set(extensions)


def test_size_announced_over_the_limit_is_refused_at_mail(listener):
    with LMTPClient(*listener.lmtp_address) as client:
        with pytest.raises(ProtocolError) as refused:
            client.sendmail("alice@example.org", ["bob@example.net"], RAW, mail_options=[f"SIZE={LIMIT + 1}"])
        assert refused.value.reply.code == 552
        assert refused.value.reply.text.startswith("5.3.4")
        # Announcing a size within the limit is fine.
        assert codes(client.sendmail("alice@example.org", ["bob@example.net"], RAW, [f"SIZE={len(RAW)}"])) == [250]
    assert Message.objects.count() == 1


def test_data_over_the_limit_is_refused_for_every_recipient_and_the_session_goes_on(listener):
    exactly = b"Subject: big\r\n\r\n" + b"x" * (LIMIT - 18) + b"\r\n"
    assert len(exactly) == LIMIT
    with LMTPClient(*listener.lmtp_address) as client:
        too_big = client.sendmail("alice@example.org", ["bob@example.net", "carol@example.net"], exactly + b"y\r\n")
        assert [(r.code, r.text[:5]) for r in too_big] == [(552, "5.3.4"), (552, "5.3.4")]
        assert stored() == (0, 0, 0)
        assert codes(client.sendmail("alice@example.org", ["bob@example.net"], exactly)) == [250]
    assert Message.objects.get().size == LIMIT


def test_storage_failure_answers_451_for_each_recipient_and_stores_nothing(listener):
    with LMTPClient(*listener.lmtp_address) as client:
        with failing_recipients() as prefix:
            rcpts = ["bob@example.net", f"{prefix}@example.net"]
            replies = client.sendmail("new-sender@example.org", rcpts, RAW)
            assert [(r.code, r.text[:5]) for r in replies] == [(451, "4.3.0"), (451, "4.3.0")]
            assert stored() == (0, 0, 0)
            assert not MailUser.objects.exists()
        # The MTA retries on the same connection once the trouble is over.
        assert codes(client.sendmail("new-sender@example.org", rcpts, RAW)) == [250, 250]
    assert stored() == (1, 1, 2)


def test_smtp_listener_gives_one_reply_and_451_when_storing_fails(listener):
    replies = send(
        *listener.smtp_address, "alice@example.org", ["bob@example.net", "carol@example.net"], RAW, protocol="smtp"
    )
    assert codes(replies) == [250, 250]
    assert replies[0].text.startswith("2.0.0 Ok: queued as ")
    with failing_recipients() as prefix:
        replies = send(
            *listener.smtp_address, "a@example.org", ["b@example.net", f"{prefix}@x.net"], RAW, protocol="smtp"
        )
    assert codes(replies) == [451, 451]
    assert stored() == (1, 1, 2)


def test_eight_bit_content_and_long_lines_arrive_byte_for_byte(listener):
    body = bytes(b for b in range(256) if b not in b"\r\n") * 4
    raw = (
        b"Subject: =?utf-8?q?=C3=BCber?=\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + body
        + b"\r\n"
        + b"L" * 200_00
        + b"\r\n.\r\n"
        + b"." * 3000
        + b"\r\n"
    )
    replies = send(
        *listener.lmtp_address, "alice@example.org", ["bob@example.net"], raw, mail_options=["BODY=8BITMIME"]
    )
    assert codes(replies) == [250]
    message = Message.objects.get()
    assert bytes(message.raw.data) == raw
    assert message.subject == "über"


def test_null_sender_is_accepted(listener):
    assert codes(send(*listener.lmtp_address, "", ["bob@example.net"], RAW)) == [250]
    assert Message.objects.get().mail_from == ""


def test_pipelined_commands_are_answered_in_order(listener):
    with LMTPClient(*listener.lmtp_address) as client:
        client.send_raw(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nRCPT TO:<c@example.net>\r\nDATA\r\n")
        assert [client.read_reply().code for _ in range(4)] == [250, 250, 250, 354]
        # The next transaction follows the data in the same write.
        client.send_raw(wire_format(RAW) + b"MAIL FROM:<a@example.org>\r\nRCPT TO:<d@example.net>\r\nDATA\r\n")
        assert [client.read_reply().code for _ in range(5)] == [250, 250, 250, 250, 354]
        client.send_raw(wire_format(b"Subject: second\r\n\r\nhi\r\n"))
        assert client.read_reply().code == 250
    assert sorted(Message.objects.values_list("subject", flat=True)) == ["quarterly figures", "second"]
    assert bytes(Message.objects.get(subject="quarterly figures").raw.data) == RAW


def test_xforward_names_the_original_client_and_the_mta_queue_id(listener):
    with LMTPClient(*listener.lmtp_address) as client:
        assert client.command("XFORWARD NAME=mx.example.org ADDR=IPV6:2001:db8::7 PROTO=ESMTP").code == 250
        assert client.command("XFORWARD HELO=sender.example.org IDENT=4Xy1Z2abcDz SOURCE=REMOTE").code == 250
        assert codes(client.sendmail("alice@example.org", ["bob@example.net"], RAW)) == [250]
        # Attributes belong to one transaction.
        assert codes(client.sendmail("alice@example.org", ["bob@example.net"], RAW)) == [250]
        assert client.command("XFORWARD COLOUR=blue").code == 501
    first, second = Message.objects.order_by("id")
    assert (first.client_address, first.client_helo, first.mta_queue_id) == (
        "2001:db8::7",
        "sender.example.org",
        "4Xy1Z2abcDz",
    )
    assert (second.client_address, second.client_helo, second.mta_queue_id) == ("127.0.0.1", "localhost", "")


def test_mta_queue_id_is_read_from_postfix_received_header(listener):
    raw = (
        b"Received: from client.example.org (client.example.org [192.0.2.1])\r\n"
        b"\tby mx.example.net (Postfix) with ESMTP id 4Qz3Lk0XyZz9;\r\n"
        b"\tSat, 28 Nov 2026 10:00:00 +0000 (UTC)\r\n" + RAW
    )
    assert codes(send(*listener.lmtp_address, "alice@example.org", ["bob@example.net"], raw)) == [250]
    assert Message.objects.get().mta_queue_id == "4Qz3Lk0XyZz9"


def test_twenty_clients_at_once_are_all_stored(listener):
    def one(i):
        raw = f"Subject: message {i}\r\n\r\n".encode() + bytes([65 + i]) * (1000 * i) + b"\r\n"
        rcpts = [f"r{i}-{n}@example.net" for n in range(3)]
        return raw, send(*listener.lmtp_address, "same-sender@example.org", rcpts, raw)

    barrier = threading.Barrier(20)

    def together(i):
        barrier.wait(timeout=10)
        return one(i)

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(together, range(20)))

    assert all(codes(replies) == [250, 250, 250] for _, replies in results)
    assert stored() == (20, 20, 60)
    for raw, replies in results:
        queue_id = replies[0].text.rsplit(" ", 1)[-1]
        assert bytes(Message.objects.get(queue_id=queue_id).raw.data) == raw
    assert MailUser.objects.filter(email="same-sender@example.org").count() == 1


def test_graceful_shutdown_lets_a_message_in_flight_finish(transactional_db):
    server = Listener(lmtp="127.0.0.1:0", smtp="").start()
    address = server.lmtp_address
    idle = LMTPClient(*address).connect()
    busy = LMTPClient(*address).connect()
    assert busy.command("MAIL FROM:<alice@example.org>").code == 250
    assert busy.command("RCPT TO:<bob@example.net>").code == 250
    assert busy.command("DATA").code == 354
    wire = wire_format(RAW)
    busy.send_raw(wire[:40])

    stopping = threading.Thread(target=server.stop, kwargs={"grace": 20})
    stopping.start()
    wait_until_refused(address)
    # An idle connection is told at once; the one in DATA may finish.
    assert idle.read_reply().code == 421
    busy.send_raw(wire[40:])
    reply = busy.read_reply()
    assert reply.code == 250
    assert busy.read_reply().code == 421
    stopping.join(timeout=20)
    assert not stopping.is_alive()
    assert bytes(Message.objects.get().raw.data) == RAW
    idle.close()
    busy.close()


def test_graceful_shutdown_cuts_off_a_stalled_transaction_after_the_grace(transactional_db):
    server = Listener(lmtp="127.0.0.1:0", smtp="").start()
    stalled = LMTPClient(*server.lmtp_address).connect()
    assert stalled.command("MAIL FROM:<alice@example.org>").code == 250
    started = time.monotonic()
    server.stop(grace=0.5)
    assert 0.5 <= time.monotonic() - started < 5
    with pytest.raises((ProtocolError, OSError)):
        stalled.command("RCPT TO:<bob@example.net>")
    stalled.close()
    assert not Message.objects.exists()


def wait_until_refused(address, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(address, timeout=1).close()
        except ConnectionRefusedError:
            return
        time.sleep(0.02)
    raise AssertionError("listener still accepts connections")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:10024", ("127.0.0.1", 10024)),
        ("localhost:0", ("localhost", 0)),
        ("[::1]:10025", ("::1", 10025)),
        (":2525", (None, 2525)),
        ("*:2525", (None, 2525)),
    ],
)
def test_listen_addresses_parse(text, expected):
    assert parse_hostport(text) == expected


@pytest.mark.parametrize("text", ["", "10024", "::1:10024", "host:port", "host:70000", "[::1]"])
def test_bad_listen_addresses_say_what_is_expected(text):
    with pytest.raises(ValueError, match="listen address"):
        parse_hostport(text)


def test_a_busy_port_is_reported_at_start(listener):
    host, port = listener.lmtp_address
    with pytest.raises(OSError, match="in use"):
        Listener(lmtp=f"{host}:{port}", smtp="").start()


def test_client_sends_bare_line_ends_as_crlf_and_stuffs_dots(listener):
    replies = send(*listener.lmtp_address, "a@example.org", ["b@example.net"], b".top\nmid\r.\n..\r\nend")
    assert codes(replies) == [250]
    assert bytes(Message.objects.get().raw.data) == b".top\r\nmid\r\n.\r\n..\r\nend\r\n"
    assert wire_format(b".top\n.\n") == b"..top\r\n..\r\n.\r\n"


def test_a_slow_database_holds_up_only_its_own_message(listener):
    # While the spool waits for a lock, other sessions are served and the
    # waiting message is not acknowledged until its rows are committed.
    result = {}
    with transaction.atomic():  # SQLite: BEGIN IMMEDIATE takes the write lock
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("LOCK TABLE gateway_message IN EXCLUSIVE MODE")
        waiting = threading.Thread(
            target=lambda: result.update(replies=send(*listener.lmtp_address, "a@example.org", ["b@example.net"], RAW))
        )
        waiting.start()
        time.sleep(0.5)
        # Answered while the lock is still held: the event loop is free.
        with LMTPClient(*listener.lmtp_address, timeout=10) as other:
            assert other.command("NOOP").code == 250
        assert waiting.is_alive()
        assert "replies" not in result
    waiting.join(timeout=30)
    assert codes(result["replies"]) == [250]
    assert Message.objects.count() == 1
