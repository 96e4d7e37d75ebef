"""A real Postfix in front of a real Lockpost, wired as the README says:

    client -> Postfix -> LMTP -> Lockpost (gateway process) -> SMTP -> Postfix's
    return listener -> relayhost = the test sink

What a user would check: the message arrives with its envelope and body
intact, Lockpost's Received header shows it passed through, the admin's
Message row says delivered with its trail, and nothing is lost while
Lockpost is down."""

import re
import time

import pytest

from gateway.models import Message

SENDER = "alice@corp.example"
VISIBLE = ["bob@partner.example", "carol@partner.example", "dave@corp.example"]
BCC = "eve@elsewhere.example"
BODY = "Grüße aus Köln, Zürich und 東京. Ærlig talt: 100 €.\r\n".encode()


def message(message_id):
    return (
        b"From: Alice <alice@corp.example>\r\n"
        b"To: bob@partner.example, carol@partner.example\r\n"
        b"Cc: dave@corp.example\r\n"
        b"Subject: Quarterly figures\r\n"
        b"Date: Sat, 28 Nov 2026 10:00:00 +0000\r\n"
        b"Message-ID: <" + message_id.encode() + b">\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n"
        b"\r\n" + BODY
    )


def wait_for_recipients(sink, recipients, timeout=30):
    """Wait until the sink has had every recipient; returns its mail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = [rcpt for mail in sink.received for rcpt in mail.rcpt_tos]
        if sorted(got) == sorted(recipients):
            return list(sink.received)
        time.sleep(0.1)
    raise AssertionError(f"sink has {[(m.mail_from, m.rcpt_tos) for m in sink.received]}, want {recipients}")


def wait_for_state(message_filter, state, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = Message.objects.filter(**message_filter).first()
        if found is not None and found.state == state:
            return found
        time.sleep(0.1)
    raise AssertionError(f"message {message_filter} is {found and found.state}, not {state}")


def received_headers(data):
    head = data.split(b"\r\n\r\n", 1)[0]
    return re.findall(rb"^Received: .*?(?=\r\n(?! |\t))", head, re.M | re.S)


@pytest.fixture
def wired(postfix_instance, gateway_process, smtp_sink):
    """Postfix and Lockpost pointed at each other, neither started yet."""

    def make():
        postfix = postfix_instance(relay_port=smtp_sink.port)
        gateway = gateway_process(next_hop=f"127.0.0.1:{postfix.reinject_port}", start=False)
        postfix.lmtp_port = gateway.port
        return postfix, gateway

    return make


def test_message_through_postfix_and_lockpost_arrives_intact(wired, smtp_sink):
    postfix, gateway = wired()
    gateway.start()
    postfix.start()
    original = message("e2e-intact@corp.example")

    assert postfix.send(original, SENDER, [*VISIBLE, BCC]) == {}

    arrived = wait_for_recipients(smtp_sink, [*VISIBLE, BCC])
    for mail in arrived:
        assert mail.mail_from == SENDER
        # Postfix and Lockpost only prepend trace headers: every byte of
        # the message as sent follows them unchanged.
        assert mail.data.endswith(original)
        received = received_headers(mail.data)
        assert len(received) == 3, received
        assert b"(Postfix) with ESMTP" in received[0]  # the return listener
        assert b"(Lockpost) with LMTP" in received[1]
        assert b"(Postfix) with ESMTP" in received[2]  # the submission listener
    # The Bcc recipient's copy went out alone; no one else saw it.
    [bcc_copy] = [mail for mail in arrived if BCC in mail.rcpt_tos]
    assert bcc_copy.rcpt_tos == [BCC]

    stored = wait_for_state({"mail_from": SENDER}, Message.State.DELIVERED)
    assert sorted(stored.recipients.values_list("address", flat=True)) == sorted([*VISIBLE, BCC])
    assert set(stored.recipients.values_list("state", flat=True)) == {"delivered"}
    assert stored.subject == "Quarterly figures"
    # XFORWARD: Lockpost knows the real client and Postfix's queue id.
    assert stored.client_helo == "client.lockpost.test"
    submitted_id = postfix.wait_for_log(r"postfix/smtpd\[\d+\]: ([0-9A-F]+): client=").group(1)
    assert stored.mta_queue_id == submitted_id
    stages = set(stored.trail.values_list("stage", flat=True))
    assert {"group", "trace", "delivery"} <= stages, stages
    postfix.wait_queue_empty()


def test_postfix_keeps_the_message_while_lockpost_is_down(wired, smtp_sink):
    postfix, gateway = wired()
    postfix.start()  # Lockpost is not running yet
    original = message("e2e-down@corp.example")

    postfix.send(original, SENDER, VISIBLE)

    postfix.wait_for_log(rf"connect to 127\.0\.0\.1\[127\.0\.0\.1\]:{gateway.port}: Connection refused")
    postfix.wait_for_log(r"status=deferred")
    [queued] = postfix.queue()
    assert queued["queue_name"] == "deferred"
    assert sorted(r["address"] for r in queued["recipients"]) == sorted(VISIBLE)
    assert smtp_sink.received == []
    assert not Message.objects.exists()

    gateway.start()
    postfix.flush()

    [mail] = wait_for_recipients(smtp_sink, VISIBLE)
    assert mail.mail_from == SENDER
    assert mail.data.endswith(original)
    wait_for_state({"mail_from": SENDER}, Message.State.DELIVERED)
    postfix.wait_queue_empty()


def test_postfix_keeps_the_message_when_lockpost_cannot_store_it(wired, gateway_process, smtp_sink):
    postfix, gateway = wired()
    # A listener whose database is unreachable: it must answer 451, not 250.
    broken = gateway_process(
        lmtp_port=gateway.port,
        env={"DATABASE_URL": "postgres://nobody@127.0.0.1:1/unreachable"},
        args=["--no-worker"],
    )
    postfix.start()
    original = message("e2e-451@corp.example")

    postfix.send(original, SENDER, VISIBLE)

    postfix.wait_for_log(r"status=deferred \(host 127\.0\.0\.1\[127\.0\.0\.1\] said: 451 ")
    [queued] = postfix.queue()
    assert queued["queue_name"] == "deferred"
    assert not Message.objects.exists()

    broken.stop()
    gateway.start()
    postfix.flush()

    [mail] = wait_for_recipients(smtp_sink, VISIBLE)
    assert mail.data.endswith(original)
    wait_for_state({"mail_from": SENDER}, Message.State.DELIVERED)
    postfix.wait_queue_empty()
