"""The README's Postfix configuration on its own, with a stand-in LMTP
receiver where Lockpost would be: Postfix hands every queued message over
LMTP with its whole envelope, mail sent back to the return listener is not
filtered again, and a temporary LMTP failure keeps the message queued."""

import re
import smtplib
import threading
import time

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP

from tests.support.postfix import free_port

SENDER = "alice@corp.example"
RECIPIENTS = ["bob@partner.example", "carol@partner.example", "dave@corp.example"]
BCC = "eve@elsewhere.example"
MESSAGE = (
    "From: Alice <alice@corp.example>\r\n"
    "To: bob@partner.example, carol@partner.example\r\n"
    "Cc: dave@corp.example\r\n"
    "Subject: Quarterly figures\r\n"
    "Date: Sat, 28 Nov 2026 10:00:00 +0000\r\n"
    "Message-ID: <wiring-1@corp.example>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "Grüße aus Köln, Zürich und 東京. Ærlig talt: 100 €.\r\n"
).encode()


class LmtpStandIn:
    """An LMTP server that keeps what it is given and answers each recipient
    with `reply` (one line per recipient, as RFC 2033 wants)."""

    def __init__(self, port):
        self.port = port
        self.reply = "250 2.0.0 stored"
        self.received = []
        self.arrived = threading.Condition()
        self.controller = _LmtpController(self, hostname="127.0.0.1", port=port)

    async def handle_DATA(self, server, session, envelope):
        reply = self.reply
        if reply.startswith("250"):
            with self.arrived:
                self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
                self.arrived.notify_all()
        return "\r\n".join(reply for _ in envelope.rcpt_tos)

    def wait_for(self, count, timeout=20):
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.received) >= count, timeout):
                raise AssertionError(f"LMTP stand-in got {len(self.received)} of {count} messages")
        return self.received


class _LmtpController(Controller):
    def factory(self):
        return LMTP(self.handler, decode_data=False)


@pytest.fixture
def lmtp_stand_in():
    stand_in = LmtpStandIn(free_port())
    stand_in.controller.start()
    yield stand_in
    stand_in.controller.stop()


def test_postfix_hands_the_whole_envelope_over_lmtp_and_the_return_path_reaches_the_sink(
    postfix_instance, smtp_sink, lmtp_stand_in
):
    postfix = postfix_instance(relay_port=smtp_sink.port, lmtp_port=lmtp_stand_in.port).start()

    refused = postfix.send(MESSAGE, SENDER, [*RECIPIENTS, BCC])
    assert refused == {}

    [(mail_from, rcpt_tos, data)] = lmtp_stand_in.wait_for(1)
    assert mail_from == SENDER
    # Postfix's queue manager sorts recipients (by domain), so compare as sets.
    assert sorted(rcpt_tos) == sorted([*RECIPIENTS, BCC])
    # Postfix only prepends its Received header; the rest is byte for byte.
    assert data.endswith(MESSAGE)
    assert re.match(rb"Received: from .*\r\n\tby postfix\.lockpost\.test \(Postfix\)", data)

    # What the filter hands back to the return listener goes out, unfiltered.
    with smtplib.SMTP("127.0.0.1", postfix.reinject_port, timeout=30) as client:
        client.sendmail(SENDER, [*RECIPIENTS, BCC], data, mail_options=["BODY=8BITMIME"])
    [delivered] = smtp_sink.wait_for(1, timeout=20)
    assert delivered.mail_from == SENDER
    assert sorted(delivered.rcpt_tos) == sorted([*RECIPIENTS, BCC])
    assert delivered.data.endswith(data)
    postfix.wait_queue_empty()
    assert len(lmtp_stand_in.received) == 1, "mail from the return listener went through the filter again"


def test_postfix_keeps_and_retries_a_message_the_filter_answers_451(postfix_instance, smtp_sink, lmtp_stand_in):
    postfix = postfix_instance(relay_port=smtp_sink.port, lmtp_port=lmtp_stand_in.port).start()
    lmtp_stand_in.reply = "451 4.3.0 Lockpost could not store the message"

    postfix.send(MESSAGE, SENDER, RECIPIENTS)

    postfix.wait_for_log(r"status=deferred \(host 127\.0\.0\.1\[127\.0\.0\.1\] said: 451 4\.3\.0")
    # The log line comes before the queue manager moves the file from the
    # active queue to the deferred one: wait for the move.
    deadline = time.monotonic() + 20
    while (queued := postfix.queue()) and queued[0]["queue_name"] != "deferred" and time.monotonic() < deadline:
        time.sleep(0.1)
    [queued] = queued
    assert queued["queue_name"] == "deferred"
    assert queued["sender"] == SENDER
    assert sorted(r["address"] for r in queued["recipients"]) == sorted(RECIPIENTS)
    assert lmtp_stand_in.received == []

    lmtp_stand_in.reply = "250 2.0.0 stored"
    postfix.flush()
    [(mail_from, rcpt_tos, data)] = lmtp_stand_in.wait_for(1)
    assert (mail_from, sorted(rcpt_tos)) == (SENDER, sorted(RECIPIENTS))
    assert data.endswith(MESSAGE)
    postfix.wait_queue_empty()
