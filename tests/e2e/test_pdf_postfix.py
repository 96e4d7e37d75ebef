"""Encrypted PDF end to end, through a real Postfix and a real Lockpost
process: an internal sender writes to an outside recipient who has no
certificate and PDF enabled. What arrives at the next hop is a cover message
with an encrypted PDF, and the SMS (written by the file backend) carries the
password that opens it."""

import email
import email.policy
import json
import re
import time

from django.core.management import call_command

from gateway.models import Message
from tests.e2e.test_postfix import received_headers, wait_for_recipients, wait_for_state
from tests.pdfmail.readers import pdftotext, qpdf_check

SENDER = "alice@corp.example"
RECIPIENT = "bob@partner.example"
PHONE = "+31612345678"
BODY = "Board minutes: the merger closes on Friday. Grüße, 東京.\r\n"


def message():
    return (
        b"From: Alice <alice@corp.example>\r\n"
        b"To: Bob <bob@partner.example>\r\n"
        b"Subject: Board minutes\r\n"
        b"Date: Sat, 28 Nov 2026 10:00:00 +0000\r\n"
        b"Message-ID: <e2e-pdf@corp.example>\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n"
        b"\r\n" + BODY.encode()
    )


def wait_for_sms(folder, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted(folder.glob("*.json")) if folder.exists() else []
        if found:
            return [json.loads(p.read_text()) for p in found]
        time.sleep(0.1)
    raise AssertionError(f"no SMS written into {folder}")


def test_outgoing_mail_arrives_as_a_cover_with_a_pdf_the_sms_password_opens(
    postfix_instance, gateway_process, smtp_sink, tmp_path
):
    # Set up as an operator would, with the management commands.
    call_command("domains", "add", "corp.example", "--internal")
    call_command("domains", "add", "partner.example")
    call_command("settings", "set", "--domain", "partner.example", "pdf_enabled", "true")
    call_command("settings", "set", "--address", RECIPIENT, "phone_number", PHONE)
    sms_folder = tmp_path / "sms"
    postfix = postfix_instance(relay_port=smtp_sink.port)
    gateway = gateway_process(
        next_hop=f"127.0.0.1:{postfix.reinject_port}",
        start=False,
        env={
            "LOCKPOST_SMS_BACKEND": "portal.sms.backends.filebased.SmsBackend",
            "LOCKPOST_SMS_FILE_PATH": str(sms_folder),
        },
    )
    postfix.lmtp_port = gateway.port
    gateway.start()
    postfix.start()

    assert postfix.send(message(), SENDER, [RECIPIENT]) == {}

    [mail] = wait_for_recipients(smtp_sink, [RECIPIENT])
    assert mail.mail_from == SENDER
    assert BODY.encode() not in mail.data  # the body travels only inside the PDF
    assert b"(Lockpost) with LMTP" in received_headers(mail.data)[1]
    cover = email.message_from_bytes(mail.data, policy=email.policy.default)
    assert cover["Subject"] == "Board minutes"
    assert "text message" in cover.get_body(("plain",)).get_content()
    [attachment] = list(cover.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    pdf = tmp_path / "arrived.pdf"
    pdf.write_bytes(attachment.get_content())

    [sms] = wait_for_sms(sms_folder)
    assert sms["to"] == PHONE
    password = re.search(r": (\S+)$", sms["body"]).group(1)
    assert qpdf_check(pdf, password).returncode == 0
    assert qpdf_check(pdf, None).returncode != 0
    text = pdftotext(pdf, password)
    assert text.returncode == 0
    assert "the merger closes on Friday" in text.stdout.decode()

    stored = wait_for_state({"mail_from": SENDER}, Message.State.DELIVERED)
    trail = " ".join(stored.trail.values_list("text", flat=True))
    assert "AES-256" in trail
    assert "by SMS to +316" in trail
    assert password not in trail
    assert password not in gateway.output()
    postfix.wait_queue_empty()
