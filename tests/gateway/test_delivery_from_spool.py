"""Delivery of what the rest of the gateway produces: a message stored in the
spool, processed by the worker, sent to the next hop; a bounce taking the
same road back to the sender."""

import email
import email.policy

import pytest

from gateway import spool, worker
from gateway.delivery import deliver
from gateway.models import Delivery, Message, Recipient

pytestmark = pytest.mark.django_db

ORIGINAL = b"From: alice@example.org\r\nTo: bob@example.net\r\nSubject: spool to sink\r\n\r\nHello.\r\n"


def process_and_deliver(message):
    worker.process(message.pk)
    for delivery_id in Delivery.objects.filter(message=message).values_list("pk", flat=True):
        deliver(delivery_id)


@pytest.fixture
def next_hop(settings, make_smtp_sink):
    sink = make_smtp_sink(rcpt_replies={"nobody@example.net": "550 5.1.1 no such user"})
    settings.LOCKPOST_NEXT_HOP = sink.address
    return sink


def test_a_spooled_message_reaches_the_next_hop(next_hop):
    message = spool.store("alice@example.org", ["bob@example.net"], ORIGINAL)

    process_and_deliver(message)

    [mail] = next_hop.wait_for(1)
    assert mail.mail_from == "alice@example.org"
    assert mail.rcpt_tos == ["bob@example.net"]
    assert mail.data.endswith(ORIGINAL), "only headers are added in front; the message itself is untouched"
    assert Message.objects.get(pk=message.pk).state == Message.State.DELIVERED


def test_a_bounce_goes_back_to_the_sender_with_a_null_envelope_sender(next_hop):
    message = spool.store("alice@example.org", ["bob@example.net", "nobody@example.net"], ORIGINAL)
    process_and_deliver(message)
    assert Message.objects.get(pk=message.pk).state == Message.State.PARTLY_DELIVERED

    bounce = Message.objects.get(mail_from="")
    process_and_deliver(bounce)

    original, returned = next_hop.wait_for(2)
    assert original.rcpt_tos == ["bob@example.net"]
    assert returned.mail_from == ""
    assert returned.rcpt_tos == ["alice@example.org"]
    report = email.message_from_bytes(returned.data, policy=email.policy.default)
    assert report.get_content_type() == "multipart/report"
    assert report.get_payload()[1].get_payload()[1]["Final-Recipient"] == "rfc822; nobody@example.net"


def test_a_bounce_that_bounces_makes_no_further_bounce(next_hop):
    message = spool.store("nobody@example.net", ["nobody@example.net"], ORIGINAL)
    process_and_deliver(message)
    bounce = Message.objects.get(mail_from="")

    process_and_deliver(bounce)

    assert Message.objects.get(pk=bounce.pk).state == Message.State.BOUNCED
    assert Message.objects.filter(mail_from="").count() == 1
    assert not Recipient.objects.get(message=bounce).dsn_sent
    assert next_hop.received == []
