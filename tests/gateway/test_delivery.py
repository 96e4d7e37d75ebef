"""Delivery to the next hop, against a real SMTP server (the sink): what
arrives, what is retried, what bounces, and what the spool says afterwards."""

import datetime
import email
import email.policy
import logging
import socket
import threading

import pytest
from django.db import connection
from django.utils import timezone

from gateway import spool
from gateway.delivery import backoff, claim, deliver, deliveries_owing_dsns, record
from gateway.models import Delivery, Message, Recipient, TrailEntry
from gateway.next_hop import Reply
from tests.support.delivery_rows import MESSAGE, make_delivery, make_due, reload

pytestmark = pytest.mark.django_db

BOB, CAROL = "bob@example.net", "carol@example.net"


def bounces():
    """Messages in the spool with a null sender: the DSNs we queued."""
    return list(Message.objects.filter(mail_from="").prefetch_related("recipients"))


def test_message_arrives_byte_for_byte_with_its_envelope(next_hop):
    delivery = make_delivery([BOB, CAROL])

    deliver(delivery.pk)

    [mail] = next_hop.wait_for(1)
    assert mail.data == MESSAGE
    assert mail.mail_from == "alice@example.org"
    assert mail.rcpt_tos == [BOB, CAROL]
    delivery, message, recipients = reload(delivery)
    assert delivery.state == Delivery.State.DELIVERED
    assert delivery.finished_at is not None
    assert delivery.attempts == 1
    assert message.state == Message.State.DELIVERED
    assert [r.state for r in recipients] == [Recipient.State.DELIVERED] * 2
    assert recipients[0].reply.startswith("250 ")
    [trail] = TrailEntry.objects.filter(message=message, stage="delivery")
    assert next_hop.address in trail.text
    assert trail.data["replies"][BOB].startswith("250")


def test_bare_line_feeds_and_leading_dots_arrive_as_proper_smtp(next_hop):
    content = b"Subject: unix\n\n.hidden\n..two dots\nend"
    delivery = make_delivery([BOB], content=content)

    deliver(delivery.pk)

    [mail] = next_hop.wait_for(1)
    assert mail.data == b"Subject: unix\r\n\r\n.hidden\r\n..two dots\r\nend\r\n"


def test_temporary_failure_is_retried_later_with_backoff(scripted_next_hop):
    sink = scripted_next_hop(data_replies=["451 4.3.0 try later", "452 4.3.1 still busy"])
    delivery = make_delivery([BOB])

    before = timezone.now()
    deliver(delivery.pk)

    delivery, message, [bob] = reload(delivery)
    assert delivery.state == Delivery.State.DEFERRED
    assert before + datetime.timedelta(seconds=54) <= delivery.next_attempt_at
    assert delivery.next_attempt_at <= timezone.now() + datetime.timedelta(seconds=66)
    assert delivery.lease_until is None
    assert bob.state == Recipient.State.PENDING
    assert bob.reply == "451 4.3.0 try later"
    assert message.state == Message.State.DELIVERING
    assert sink.received == []

    deliver(delivery.pk)  # not due yet: nothing happens
    assert reload(delivery)[0].attempts == 1

    make_due(delivery)
    before = timezone.now()
    deliver(delivery.pk)
    delivery = reload(delivery)[0]
    assert delivery.state == Delivery.State.DEFERRED
    assert before + datetime.timedelta(seconds=108) <= delivery.next_attempt_at, "second delay doubles"

    make_due(delivery)
    deliver(delivery.pk)

    [mail] = sink.wait_for(1)
    assert mail.data == MESSAGE
    delivery, message, [bob] = reload(delivery)
    assert delivery.state == Delivery.State.DELIVERED
    assert delivery.attempts == 3
    assert bob.state == Recipient.State.DELIVERED
    assert message.state == Message.State.DELIVERED
    assert TrailEntry.objects.filter(message=message, stage="delivery").count() == 3
    assert bounces() == []


def test_backoff_doubles_up_to_the_maximum(settings):
    settings.LOCKPOST_RETRY_FIRST = 60
    settings.LOCKPOST_RETRY_MAX = 300
    for attempts, expected in [(1, 60), (2, 120), (3, 240), (4, 300), (20, 300)]:
        seconds = backoff(attempts).total_seconds()
        assert expected * 0.9 <= seconds <= expected * 1.1, attempts


def test_permanent_failure_bounces_that_recipient_with_a_dsn(scripted_next_hop, settings):
    settings.LOCKPOST_HOSTNAME = "gw.example.org"
    settings.LOCKPOST_POSTMASTER = "postmaster@gw.example.org"
    sink = scripted_next_hop(rcpt_replies={CAROL: "550 5.1.1 <carol@example.net>: no such user"})
    delivery = make_delivery([BOB, CAROL])

    deliver(delivery.pk)

    [mail] = sink.wait_for(1)
    assert mail.rcpt_tos == [BOB]
    delivery, message, [bob, carol] = reload(delivery)
    assert delivery.state == Delivery.State.PARTLY_DELIVERED
    assert message.state == Message.State.PARTLY_DELIVERED
    assert bob.state == Recipient.State.DELIVERED
    assert carol.state == Recipient.State.BOUNCED
    assert carol.reply == "550 5.1.1 <carol@example.net>: no such user"
    assert carol.dsn_sent
    assert not bob.dsn_sent

    [bounce] = bounces()
    assert [r.address for r in bounce.recipients.all()] == ["alice@example.org"]
    report = email.message_from_bytes(bytes(bounce.raw.data), policy=email.policy.default)
    assert report.get_content_type() == "multipart/report"
    assert report.get_param("report-type") == "delivery-status"
    assert report["To"] == "alice@example.org"
    assert report["From"].addresses[0].addr_spec == "postmaster@gw.example.org"
    assert report["Auto-Submitted"] == "auto-replied"
    human, status, headers = report.get_payload()
    assert "carol@example.net" in human.get_content()
    assert status.get_content_type() == "message/delivery-status"
    per_message, per_recipient = status.get_payload()
    assert per_message["Reporting-MTA"] == "dns; gw.example.org"
    assert per_message["Arrival-Date"]
    assert per_recipient["Final-Recipient"] == "rfc822; carol@example.net"
    assert per_recipient["Action"] == "failed"
    assert per_recipient["Status"] == "5.1.1"
    assert per_recipient["Diagnostic-Code"].startswith("smtp; 550 5.1.1")
    assert headers.get_content_type() == "text/rfc822-headers"
    assert b"Subject: Quarterly figures" in headers.get_payload(decode=True)

    Delivery.objects.filter(pk=delivery.pk).update(state=Delivery.State.DEFERRED)  # as if asked again
    make_due(delivery)
    deliver(delivery.pk)
    assert len(bounces()) == 1, "a DSN is never sent twice"
    assert len(sink.received) == 1, "a delivered recipient is never sent again"


def test_everyone_refused_means_the_message_bounced(scripted_next_hop):
    scripted_next_hop(data_replies=["554 5.7.1 rejected as spam"])
    delivery = make_delivery([BOB, CAROL])

    deliver(delivery.pk)

    delivery, message, recipients = reload(delivery)
    assert delivery.state == Delivery.State.BOUNCED
    assert message.state == Message.State.BOUNCED
    assert {r.reply for r in recipients} == {"554 5.7.1 rejected as spam"}
    [bounce] = bounces()
    report = email.message_from_bytes(bytes(bounce.raw.data), policy=email.policy.default)
    blocks = report.get_payload()[1].get_payload()
    assert [b["Final-Recipient"] for b in blocks[1:]] == [f"rfc822; {BOB}", f"rfc822; {CAROL}"]


def test_a_null_sender_is_never_bounced(scripted_next_hop):
    scripted_next_hop(rcpt_replies={BOB: "550 5.1.1 no such user"})
    delivery = make_delivery([BOB], mail_from="")

    deliver(delivery.pk)

    delivery, message, [bob] = reload(delivery)
    assert bob.state == Recipient.State.BOUNCED
    assert not bob.dsn_sent
    assert message.state == Message.State.BOUNCED
    assert Message.objects.count() == 1, "no DSN was queued"


def test_a_message_too_old_bounces_instead_of_waiting_again(scripted_next_hop, settings):
    settings.LOCKPOST_MAX_QUEUE_AGE = 5 * 24 * 3600
    scripted_next_hop(data_replies=["451 4.3.0 try later"])
    delivery = make_delivery([BOB], received_at=timezone.now() - datetime.timedelta(days=5, seconds=1))

    deliver(delivery.pk)

    delivery, message, [bob] = reload(delivery)
    assert delivery.state == Delivery.State.BOUNCED
    assert message.state == Message.State.BOUNCED
    assert bob.state == Recipient.State.BOUNCED
    assert "expired" in bob.reply
    assert "451 4.3.0 try later" in bob.reply
    [bounce] = bounces()
    report = email.message_from_bytes(bytes(bounce.raw.data), policy=email.policy.default)
    per_recipient = report.get_payload()[1].get_payload()[1]
    assert per_recipient["Status"] == "5.4.7"
    assert "451 4.3.0 try later" in per_recipient["Diagnostic-Code"]


def test_the_last_retry_is_at_the_expiry_not_after(scripted_next_hop, settings):
    settings.LOCKPOST_MAX_QUEUE_AGE = 3600
    scripted_next_hop(data_replies=["451 4.3.0 try later"])
    received_at = timezone.now() - datetime.timedelta(seconds=3600 - 10)
    delivery = make_delivery([BOB], received_at=received_at)

    deliver(delivery.pk)

    delivery = reload(delivery)[0]
    assert delivery.state == Delivery.State.DEFERRED
    assert delivery.next_attempt_at == received_at + datetime.timedelta(seconds=3600)


def test_an_unreachable_next_hop_defers(settings):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    settings.LOCKPOST_NEXT_HOP = f"127.0.0.1:{closed_port}"
    delivery = make_delivery([BOB])

    deliver(delivery.pk)

    delivery, message, [bob] = reload(delivery)
    assert delivery.state == Delivery.State.DEFERRED
    assert delivery.next_attempt_at > timezone.now()
    assert bob.state == Recipient.State.PENDING
    assert "cannot connect" in bob.reply
    assert message.state == Message.State.DELIVERING
    assert "cannot connect" in TrailEntry.objects.get(message=message, stage="delivery").text


def test_starttls_is_used_when_offered(scripted_next_hop):
    sink = scripted_next_hop(starttls=True)
    delivery = make_delivery([BOB])

    deliver(delivery.pk)

    [mail] = sink.wait_for(1)
    assert mail.tls is True
    assert mail.data == MESSAGE
    assert "(TLS)" in TrailEntry.objects.get(message=delivery.message, stage="delivery").text


def test_starttls_off_sends_in_clear(scripted_next_hop, settings):
    settings.LOCKPOST_NEXT_HOP_STARTTLS = "off"
    sink = scripted_next_hop(starttls=True)

    deliver(make_delivery([BOB]).pk)

    [mail] = sink.wait_for(1)
    assert mail.tls is False


def test_required_starttls_defers_when_the_next_hop_lacks_it(scripted_next_hop, settings):
    settings.LOCKPOST_NEXT_HOP_STARTTLS = "required"
    sink = scripted_next_hop()
    delivery = make_delivery([BOB])

    deliver(delivery.pk)

    delivery, _, [bob] = reload(delivery)
    assert delivery.state == Delivery.State.DEFERRED
    assert "STARTTLS" in bob.reply
    assert sink.received == []


def test_authenticates_at_the_next_hop(scripted_next_hop, settings):
    settings.LOCKPOST_NEXT_HOP_USER = "relay"
    settings.LOCKPOST_NEXT_HOP_PASSWORD = "correct horse"
    sink = scripted_next_hop(starttls=True, auth=("relay", "correct horse"))

    deliver(make_delivery([BOB]).pk)

    [mail] = sink.wait_for(1)
    assert mail.auth_user == "relay"
    assert mail.tls is True


def test_a_wrong_password_defers_and_is_never_written_down(scripted_next_hop, settings, caplog):
    settings.LOCKPOST_NEXT_HOP_USER = "relay"
    settings.LOCKPOST_NEXT_HOP_PASSWORD = "wrong-horse-battery"
    sink = scripted_next_hop(auth=("relay", "correct horse"))
    delivery = make_delivery([BOB])

    with caplog.at_level(logging.DEBUG):
        deliver(delivery.pk)

    delivery, message, [bob] = reload(delivery)
    assert delivery.state == Delivery.State.DEFERRED
    assert "authentication" in bob.reply
    assert sink.received == []
    trail = " ".join(str(t.text) + str(t.data) for t in TrailEntry.objects.filter(message=message))
    for written in (trail, bob.reply, delivery.last_reply, caplog.text):
        assert "wrong-horse-battery" not in written


def test_a_delivered_recipient_is_never_sent_again(next_hop):
    delivery = make_delivery([BOB, CAROL])
    Recipient.objects.filter(address=BOB).update(state=Recipient.State.DELIVERED, reply="250 earlier")

    deliver(delivery.pk)
    make_due(delivery)
    deliver(delivery.pk)

    [mail] = next_hop.wait_for(1)
    assert mail.rcpt_tos == [CAROL]
    assert reload(delivery)[0].attempts == 1


def test_held_recipients_stay_held(next_hop):
    delivery = make_delivery([BOB, CAROL])
    Recipient.objects.filter(address=CAROL).update(state=Recipient.State.HELD)

    deliver(delivery.pk)

    delivery, message, [bob, carol] = reload(delivery)
    assert bob.state == Recipient.State.DELIVERED
    assert next_hop.wait_for(1)[0].rcpt_tos == [BOB]
    assert carol.state == Recipient.State.HELD
    assert delivery.state == Delivery.State.DELIVERED
    assert message.state == Message.State.PARTLY_DELIVERED


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_send_once(scripted_next_hop):
    # The sink takes its time over DATA so that the second worker arrives
    # while the first is still sending.
    sink = scripted_next_hop(delay=0.5)
    delivery = make_delivery([BOB])
    start = threading.Barrier(2)
    errors = []

    def worker():
        try:
            start.wait()
            deliver(delivery.pk)
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    assert len(sink.wait_for(1)) == 1
    delivery, message, [bob] = reload(delivery)
    assert delivery.attempts == 1
    assert delivery.state == Delivery.State.DELIVERED
    assert bob.state == Recipient.State.DELIVERED
    assert TrailEntry.objects.filter(message=message, stage="delivery").count() == 1


def test_an_unknown_or_finished_delivery_is_left_alone(next_hop):
    deliver(987654)
    delivery = make_delivery([BOB])
    deliver(delivery.pk)
    deliver(delivery.pk)
    assert len(next_hop.wait_for(1)) == 1
    assert reload(delivery)[0].attempts == 1


def test_a_lease_held_by_a_live_worker_is_respected_and_a_dead_ones_is_not(next_hop):
    delivery = make_delivery([BOB])
    Delivery.objects.filter(pk=delivery.pk).update(lease_until=timezone.now() + datetime.timedelta(minutes=5))

    deliver(delivery.pk)
    assert next_hop.received == []

    # The worker holding it died; its lease ran out.
    Delivery.objects.filter(pk=delivery.pk).update(lease_until=timezone.now() - datetime.timedelta(seconds=1))
    deliver(delivery.pk)
    assert len(next_hop.wait_for(1)) == 1
    assert reload(delivery)[0].state == Delivery.State.DELIVERED


def test_international_addresses_go_to_a_next_hop_with_smtputf8(next_hop):
    deliver(make_delivery(["jürgen@bücher.example"], mail_from="zoë@example.org").pk)

    [mail] = next_hop.wait_for(1)
    assert mail.rcpt_tos == ["jürgen@bücher.example"]
    assert mail.mail_from == "zoë@example.org"


def test_international_addresses_bounce_at_a_next_hop_without_smtputf8(scripted_next_hop):
    sink = scripted_next_hop(smtputf8=False)
    delivery = make_delivery(["jürgen@bücher.example", BOB])

    deliver(delivery.pk)

    assert sink.wait_for(1)[0].rcpt_tos == [BOB]
    _, message, [jurgen, bob] = reload(delivery)
    assert jurgen.state == Recipient.State.BOUNCED
    assert jurgen.reply.startswith("553 5.6.7")
    assert bob.state == Recipient.State.DELIVERED
    assert message.state == Message.State.PARTLY_DELIVERED
    [bounce] = bounces()
    report = email.message_from_bytes(bytes(bounce.raw.data), policy=email.policy.default)
    assert report.get_payload()[1].get_payload()[1]["Status"] == "5.6.7"


def test_a_refused_sender_bounces_every_recipient(scripted_next_hop):
    scripted_next_hop(mail_replies=["553 5.7.1 sender not allowed"])
    delivery = make_delivery([BOB, CAROL])

    deliver(delivery.pk)

    delivery, message, recipients = reload(delivery)
    assert delivery.state == Delivery.State.BOUNCED
    assert message.state == Message.State.BOUNCED
    assert {r.reply for r in recipients} == {"553 5.7.1 sender not allowed"}
    assert len(bounces()) == 1


def test_a_busy_next_hop_at_mail_from_defers(scripted_next_hop):
    sink = scripted_next_hop(mail_replies=["421 4.3.2 too busy"])
    delivery = make_delivery([BOB])

    deliver(delivery.pk)
    assert reload(delivery)[0].state == Delivery.State.DEFERRED
    make_due(delivery)
    deliver(delivery.pk)

    assert len(sink.wait_for(1)) == 1
    assert reload(delivery)[0].state == Delivery.State.DELIVERED


def test_a_bounce_the_spool_could_not_take_is_queued_on_the_next_call(scripted_next_hop, monkeypatch):
    scripted_next_hop(rcpt_replies={BOB: "550 5.1.1 no such user"})
    delivery = make_delivery([BOB])

    def spool_down(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(spool, "store", spool_down)
    with pytest.raises(OSError, match="disk full"):
        deliver(delivery.pk)

    delivery, message, [bob] = reload(delivery)
    assert message.state == Message.State.BOUNCED
    assert bob.state == Recipient.State.BOUNCED, "the next hop's answer is kept"
    assert not bob.dsn_sent
    assert deliveries_owing_dsns() == [delivery.pk]

    monkeypatch.undo()
    deliver(delivery.pk)

    assert len(bounces()) == 1
    assert Recipient.objects.get(pk=bob.pk).dsn_sent
    assert deliveries_owing_dsns() == []


def test_a_worker_whose_lease_ran_out_records_nothing(next_hop):
    delivery = make_delivery([BOB])
    slow = claim(delivery.pk, timezone.now())
    # The slow worker's lease ran out and another worker claimed the row.
    Delivery.objects.filter(pk=delivery.pk).update(lease_until=timezone.now() + datetime.timedelta(minutes=10))

    record(slow, list(slow.recipients.all()), {BOB: Reply(250, "2.0.0 OK")}, "test", timezone.now())

    delivery, message, [bob] = reload(delivery)
    assert bob.state == Recipient.State.PENDING
    assert delivery.state == Delivery.State.PENDING
    assert not TrailEntry.objects.filter(message=message).exists()


@pytest.mark.parametrize("line_end", [b"\r\n", b"\n"])
def test_a_large_message_streams_intact_across_chunk_boundaries(next_hop, line_end):
    # Lines of many lengths, some starting with a dot, so that chunk
    # boundaries fall everywhere: mid-line, between CR and LF, before a dot.
    lines = [(b"." if n % 7 == 0 else b"") + b"z" * (n % 997) for n in range(3000)]
    content = b"Subject: big\r\n\r\n" + line_end.join(lines) + line_end
    deliver(make_delivery([BOB], content=content).pk)

    [mail] = next_hop.wait_for(1)
    assert mail.data == content.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
