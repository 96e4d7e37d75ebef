"""DLP end to end, through a real Postfix and a real Lockpost process: an
internal sender mails a card number to an outside recipient. The message is
held in the quarantine and never reaches the recipient; the sender and the
domain's DLP manager get notices (masked evidence, a portal link) that
travel back through Postfix to the sink; once the manager releases it, the
message arrives, once."""

import email
import email.policy
import time

import pytest
from django.core.management import call_command

from dlp import services
from dlp.models import QuarantinedMessage, Rule
from gateway.models import Message
from tests.e2e.test_postfix import received_headers, wait_for_state

SENDER = "alice@corp.example"
RECIPIENT = "bob@partner.example"
MANAGER = "officer@corp.example"
CARD = "4111 1111 1111 1111"
MASKED = "4111 **** **** 1111"


def message():
    return (
        b"From: Alice <alice@corp.example>\r\n"
        b"To: Bob <bob@partner.example>\r\n"
        b"Subject: Payment details\r\n"
        b"Date: Sat, 28 Nov 2026 10:00:00 +0000\r\n"
        b"Message-ID: <e2e-dlp@corp.example>\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"\r\n"
        b"Please charge my card " + CARD.encode() + b" for the invoice.\r\n"
    )


def mail_to(sink, address, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m in sink.received if address in m.rcpt_tos]
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"nothing for {address}; the sink has {[(m.mail_from, m.rcpt_tos) for m in sink.received]}")


def parsed(mail):
    return email.message_from_bytes(mail.data, policy=email.policy.default)


@pytest.fixture
def wired(postfix_instance, gateway_process, smtp_sink):
    postfix = postfix_instance(relay_port=smtp_sink.port)
    gateway = gateway_process(next_hop=f"127.0.0.1:{postfix.reinject_port}", start=False)
    postfix.lmtp_port = gateway.port
    gateway.start()
    postfix.start()
    return postfix, gateway


def test_card_number_is_quarantined_the_manager_is_told_and_after_release_it_arrives(wired, smtp_sink):
    postfix, gateway = wired
    call_command("domains", "add", "corp.example", "--internal")
    call_command("domains", "add", "partner.example")
    call_command("settings", "set", "--domain", "corp.example", "dlp_managers", MANAGER)
    Rule.objects.create(name="Payment cards", kind="detector", detector="credit_card", action="quarantine")

    assert postfix.send(message(), SENDER, [RECIPIENT]) == {}

    stored = wait_for_state({"mail_from": SENDER}, Message.State.HELD, timeout=30)
    [to_manager] = mail_to(smtp_sink, MANAGER)
    [to_sender] = mail_to(smtp_sink, SENDER)
    held = QuarantinedMessage.objects.get(message=stored)
    for notice in (to_manager, to_sender):
        assert notice.mail_from == ""  # null sender: never bounced
        assert b"(Lockpost)" in notice.data  # it went through the pipeline like any mail
        text = parsed(notice).get_body(("plain",)).get_content()
        assert "Payment cards" in text
        assert MASKED in text
        assert CARD not in text
        assert f"/quarantine/{held.pk}/" in text
    assert parsed(to_manager)["Subject"] == "Held for review: Payment details"
    time.sleep(1.5)  # several sweeps: a held message stays held
    assert not [m for m in smtp_sink.received if RECIPIENT in m.rcpt_tos]
    assert CARD not in gateway.output()

    services.release(held, by=MANAGER)
    with pytest.raises(services.NotHeld):
        services.release(held, by=MANAGER)

    [arrived] = mail_to(smtp_sink, RECIPIENT)
    assert arrived.mail_from == SENDER
    assert CARD.encode() in arrived.data
    assert b"(Lockpost) with LMTP" in received_headers(arrived.data)[1]
    wait_for_state({"mail_from": SENDER}, Message.State.DELIVERED)
    time.sleep(1.5)
    assert len([m for m in smtp_sink.received if RECIPIENT in m.rcpt_tos]) == 1
    trail = " ".join(stored.trail.values_list("text", flat=True))
    assert f"released from the DLP quarantine by {MANAGER}" in trail
    assert CARD not in trail
    postfix.wait_queue_empty()
