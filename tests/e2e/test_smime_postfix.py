"""S/MIME end to end, through a real Postfix and a real Lockpost process: an
internal user writes to an outside recipient who has a certificate and to
one who has none. What the next hop gets for the first is signed and
encrypted (openssl decrypts and verifies it); the second follows the
fallback: signed, not encrypted (PDF is off), or bounced when encryption is
mandatory."""

import email
import email.policy

from cryptography.hazmat.primitives.serialization import Encoding
from django.conf import settings

from ca.store import add_certificate, add_private_key
from gateway.models import Domain, Message, Setting
from tests.e2e.test_postfix import wait_for_recipients, wait_for_state
from tests.interop.peers import OpenSSL
from tests.smime import pki as smime_pki
from tests.smime.pki import Holder

SENDER = "alice@corp.example"
WITH_CERT = "bob@partner.example"
WITHOUT = "dave@partner.example"
SECRET = b"Board minutes: the merger closes on Friday."


def holder(pki, name, address):
    key = smime_pki._rsa()
    cert = smime_pki._user(address, key, pki.intermediate.certificate, pki.intermediate.key)
    return Holder(name, address, cert, key, (pki.intermediate.certificate, pki.root.certificate))


def der(cert):
    return cert.public_bytes(Encoding.DER)


def message(message_id):
    return (
        b"From: Alice <alice@corp.example>\r\n"
        b"To: bob@partner.example, dave@partner.example\r\n"
        b"Subject: Board minutes\r\n"
        b"Date: Sat, 28 Nov 2026 10:00:00 +0000\r\n"
        b"Message-ID: <" + message_id.encode() + b">\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"\r\n" + SECRET + b"\r\n"
    )


def set_up_people():
    pki = smime_pki.build()
    Domain.objects.create(name="corp.example", internal=True)
    add_certificate(der(pki.root.certificate), trust_anchor=True)
    add_certificate(der(pki.intermediate.certificate))
    alice, bob = holder(pki, "alice", SENDER), holder(pki, "bob", WITH_CERT)
    cert, _ = add_certificate(der(alice.certificate))
    add_private_key(cert, alice.key)
    add_certificate(der(bob.certificate))
    return pki, alice, bob


def started(postfix_instance, gateway_process, smtp_sink):
    postfix = postfix_instance(relay_port=smtp_sink.port)
    # The gateway must open the keys this process sealed.
    env = {"LOCKPOST_MASTER_KEY": settings.LOCKPOST_MASTER_KEY}
    gateway = gateway_process(next_hop=f"127.0.0.1:{postfix.reinject_port}", start=False, env=env)
    postfix.lmtp_port = gateway.port
    gateway.start()
    postfix.start()
    return postfix


def content_type(data):
    return email.message_from_bytes(data, policy=email.policy.default).get_content_type()


def test_signed_and_encrypted_out_and_the_fallback_for_no_certificate(
    postfix_instance, gateway_process, smtp_sink, tmp_path
):
    pki, _alice, bob = set_up_people()
    postfix = started(postfix_instance, gateway_process, smtp_sink)

    assert postfix.send(message("e2e-smime@corp.example"), SENDER, [WITH_CERT, WITHOUT]) == {}

    arrived = {rcpt: mail for mail in wait_for_recipients(smtp_sink, [WITH_CERT, WITHOUT]) for rcpt in mail.rcpt_tos}
    encrypted, fallback = arrived[WITH_CERT], arrived[WITHOUT]
    assert encrypted is not fallback  # two outputs
    assert content_type(encrypted.data) == "application/pkcs7-mime"
    assert SECRET not in encrypted.data
    openssl = OpenSSL(tmp_path / "openssl", pki)
    inner = openssl.decrypt(encrypted.data, bob)
    assert SECRET in openssl.verify(b"Subject: x\r\n" + inner)  # signed by Alice, trusted chain
    # No certificate, PDF off: the fallback is plain, still signed.
    assert content_type(fallback.data) == "multipart/signed"
    assert SECRET in openssl.verify(fallback.data)
    stored = wait_for_state({"mail_from": SENDER}, Message.State.DELIVERED)
    trail = "\n".join(stored.trail.values_list("text", flat=True))
    assert f"{WITHOUT}: no usable certificate; sent without encryption" in trail
    postfix.wait_queue_empty()


def test_mandatory_encryption_bounces_the_recipient_without_a_certificate(
    postfix_instance, gateway_process, smtp_sink, tmp_path
):
    set_up_people()
    Setting.objects.create(key="encryption_mode", value="mandatory")
    postfix = started(postfix_instance, gateway_process, smtp_sink)

    postfix.send(message("e2e-smime-mandatory@corp.example"), SENDER, [WITH_CERT, WITHOUT])

    # Bob's copy leaves encrypted; Alice gets a bounce for Dave (through Postfix, to the sink).
    mails = wait_for_recipients(smtp_sink, [WITH_CERT, SENDER])
    [bounce] = [m for m in mails if SENDER in m.rcpt_tos]
    assert bounce.mail_from == ""
    assert b"Status: 5.7.1" in bounce.data
    assert f"Final-Recipient: rfc822; {WITHOUT}".encode() in bounce.data
    assert all(WITHOUT not in m.rcpt_tos for m in mails)
    stored = wait_for_state({"mail_from": SENDER}, Message.State.PARTLY_DELIVERED)
    assert stored.recipients.get(address=WITHOUT).state == "bounced"
