"""deliver_many: a batch of deliveries sent to the next hop (a real SMTP sink)
and recorded together, each exactly as deliver() would have recorded it."""

import datetime
import email
import email.policy
import threading
from collections import Counter

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from gateway import bulk
from gateway import delivery as delivery_module
from gateway import next_hop as next_hop_module
from gateway.delivery import deliver_many
from gateway.models import Delivery, Message, RawMessage, Recipient, TrailEntry
from tests.support.delivery_rows import MESSAGE, make_delivery, reload

pytestmark = pytest.mark.django_db

BOB, CAROL, DAVE, ERIN = "bob@example.net", "carol@example.net", "dave@example.net", "erin@example.net"


def message_bytes(n):
    return MESSAGE.replace(b"Quarterly figures", f"Figures, part {n}".encode())


def add_delivery(message, recipients, group_key):
    """A second output of the same message, for recipients of its own."""
    delivery = Delivery.objects.create(
        message=message, group_key=group_key, mail_from=message.mail_from, content=message_bytes(99)
    )
    start = message.recipients.count()
    for position, address in enumerate(recipients, start):
        Recipient.objects.create(message=message, address=address, position=position, delivery=delivery)
    return delivery


def shares_the_spooled_bytes(delivery, prefix=b"X-Trace: batch\r\n"):
    """Makes the output the message as received under a header, stored
    without a copy (as the worker stores such outputs)."""
    Delivery.objects.filter(pk=delivery.pk).update(content=b"", prefix=prefix)
    return prefix + bytes(RawMessage.objects.get(pk=delivery.message_id).data)


def delivery_trail(delivery):
    return list(TrailEntry.objects.filter(message_id=delivery.message_id, stage="delivery"))


def bounces():
    """Messages in the spool with a null sender: the DSNs we queued."""
    return list(Message.objects.filter(mail_from="").prefetch_related("recipients"))


def test_a_batch_from_several_messages_arrives_byte_for_byte_and_each_message_is_delivered(next_hop):
    deliveries = [make_delivery([BOB, CAROL], content=message_bytes(n)) for n in range(4)]
    expected = {d.pk: message_bytes(n) for n, d in enumerate(deliveries)}
    expected[deliveries[1].pk] = shares_the_spooled_bytes(deliveries[1])

    deliver_many([d.pk for d in deliveries])

    received = sorted(mail.data for mail in next_hop.wait_for(4))
    assert received == sorted(expected.values())
    for delivery in deliveries:
        delivery, message, recipients = reload(delivery)
        assert delivery.state == Delivery.State.DELIVERED
        assert delivery.attempts == 1
        assert delivery.lease_until is None
        assert message.state == Message.State.DELIVERED
        assert {r.state for r in recipients} == {Recipient.State.DELIVERED}
        [trail] = delivery_trail(delivery)
        assert trail.text.startswith(f"plain attempt 1 via {next_hop.address} (no TLS): <{BOB}> 250 ")
        assert trail.data["state"] == "delivered"


def test_two_deliveries_of_one_message_in_one_batch_leave_it_delivered(next_hop):
    first = make_delivery([BOB])
    second = add_delivery(first.message, [CAROL], group_key="bcc-carol")

    deliver_many([first.pk, second.pk])

    assert sorted(mail.rcpt_tos[0] for mail in next_hop.wait_for(2)) == [BOB, CAROL]
    _, message, recipients = reload(first)
    assert message.state == Message.State.DELIVERED
    assert [r.state for r in recipients] == [Recipient.State.DELIVERED] * 2
    assert {reload(d)[0].state for d in (first, second)} == {Delivery.State.DELIVERED}
    assert len(delivery_trail(first)) == 2


def test_each_outcome_in_a_batch_is_recorded_as_its_own(scripted_next_hop):
    sink = scripted_next_hop(
        rcpt_replies={CAROL: "550 5.1.1 <carol@example.net>: no such user", DAVE: "450 4.2.1 mailbox busy"}
    )
    partly = make_delivery([BOB, CAROL])
    deferred = make_delivery([DAVE])
    delivered = make_delivery([ERIN])

    before = timezone.now()
    deliver_many([partly.pk, deferred.pk, delivered.pk])

    assert sorted(mail.rcpt_tos[0] for mail in sink.wait_for(2)) == [BOB, ERIN]

    partly, message, [bob, carol] = reload(partly)
    assert partly.state == Delivery.State.PARTLY_DELIVERED
    assert message.state == Message.State.PARTLY_DELIVERED
    assert bob.state == Recipient.State.DELIVERED
    assert carol.state == Recipient.State.BOUNCED
    assert carol.reply == "550 5.1.1 <carol@example.net>: no such user"
    assert carol.dsn_sent
    [bounce] = bounces()
    assert [r.address for r in bounce.recipients.all()] == ["alice@example.org"]
    report = email.message_from_bytes(bytes(bounce.raw.data), policy=email.policy.default)
    assert report.get_payload()[1].get_payload()[1]["Final-Recipient"] == f"rfc822; {CAROL}"

    deferred, message, [dave] = reload(deferred)
    assert deferred.state == Delivery.State.DEFERRED
    assert before + datetime.timedelta(seconds=54) <= deferred.next_attempt_at
    assert deferred.next_attempt_at <= timezone.now() + datetime.timedelta(seconds=66)
    assert deferred.lease_until is None
    assert dave.state == Recipient.State.PENDING
    assert dave.reply == "450 4.2.1 mailbox busy"
    assert message.state == Message.State.DELIVERING
    [trail] = delivery_trail(deferred)
    assert trail.text.endswith(f"deferred, next try {deferred.next_attempt_at:%Y-%m-%d %H:%M:%S} UTC")

    delivered, message, _ = reload(delivered)
    assert delivered.state == Delivery.State.DELIVERED
    assert message.state == Message.State.DELIVERED


def test_a_delivery_taken_over_during_the_send_records_nothing_and_the_rest_are_recorded(next_hop, monkeypatch, caplog):
    first, taken, last = make_delivery([BOB]), make_delivery([CAROL]), make_delivery([DAVE])
    other_workers_lease = timezone.now() + datetime.timedelta(minutes=10)
    send = next_hop_module.send

    def send_while_another_worker_takes_over(target, mail_from, recipients, content, **options):
        if recipients == [CAROL]:
            # Our lease ran out while we were sending; another worker claimed the row.
            Delivery.objects.filter(pk=taken.pk).update(lease_until=other_workers_lease)
        return send(target, mail_from, recipients, content, **options)

    monkeypatch.setattr(next_hop_module, "send", send_while_another_worker_takes_over)

    deliver_many([first.pk, taken.pk, last.pk])

    assert len(next_hop.wait_for(3)) == 3
    taken, message, [carol] = reload(taken)
    assert taken.state == Delivery.State.PENDING
    assert taken.lease_until == other_workers_lease
    assert carol.state == Recipient.State.PENDING
    assert carol.reply == ""
    assert message.state == Message.State.DELIVERING
    assert delivery_trail(taken) == []
    assert "lease ran out" in caplog.text
    for delivery in (first, last):
        delivery, message, _ = reload(delivery)
        assert delivery.state == Delivery.State.DELIVERED
        assert message.state == Message.State.DELIVERED
        assert len(delivery_trail(delivery)) == 1


def test_deliveries_not_due_or_leased_by_another_worker_are_skipped_and_not_sent(next_hop):
    due = make_delivery([BOB])
    not_due = make_delivery([CAROL])
    leased = make_delivery([DAVE])
    finished = make_delivery([ERIN])
    dead_workers = make_delivery(["frank@example.net"])
    now = timezone.now()
    Delivery.objects.filter(pk=not_due.pk).update(
        state=Delivery.State.DEFERRED, next_attempt_at=now + datetime.timedelta(minutes=5)
    )
    Delivery.objects.filter(pk=leased.pk).update(lease_until=now + datetime.timedelta(minutes=5))
    Delivery.objects.filter(pk=finished.pk).update(state=Delivery.State.DELIVERED)
    Delivery.objects.filter(pk=dead_workers.pk).update(lease_until=now - datetime.timedelta(seconds=1))

    deliver_many([d.pk for d in (due, not_due, leased, finished, dead_workers)])

    assert sorted(mail.rcpt_tos[0] for mail in next_hop.wait_for(2)) == [BOB, "frank@example.net"]
    assert reload(due)[0].state == reload(dead_workers)[0].state == Delivery.State.DELIVERED
    for skipped in (not_due, leased, finished):
        row, _, [recipient] = reload(skipped)
        assert row.attempts == 0
        assert recipient.state == Recipient.State.PENDING
        assert delivery_trail(skipped) == []
    assert len(next_hop.received) == 2


def test_the_statements_for_a_batch_do_not_grow_with_it(scripted_next_hop, monkeypatch):
    monkeypatch.setattr(delivery_module, "RECORD_EVERY", 60)  # one round, however slow the machine
    # Outcomes of every kind, so that the rows are not all alike: delivered,
    # deferred (each with its own next try), bounced (to a null sender, so
    # no bounce is queued), outputs of their own and shared spooled bytes.
    sink = scripted_next_hop(rcpt_replies={CAROL: "550 5.1.1 no such user", DAVE: "451 4.3.0 try later"})

    def batch(size):
        deliveries = []
        for n in range(size):
            recipients = [[BOB, ERIN], [DAVE], [CAROL]][n % 3]
            sender = "" if CAROL in recipients else "alice@example.org"
            delivery = make_delivery(recipients, content=message_bytes(n), mail_from=sender)
            if n % 4 == 1:
                shares_the_spooled_bytes(delivery)
            deliveries.append(delivery)
        # Two deliveries of one message as well.
        deliveries.append(add_delivery(deliveries[0].message, ["gina@example.net"], group_key="bcc-gina"))
        return [d.pk for d in deliveries]

    def statements(delivery_ids):
        with CaptureQueriesContext(connection) as queries:
            deliver_many(delivery_ids)
        # The raw bytes of a message that outputs share are loaded once per
        # output sent (on PostgreSQL without Django's cursor, so not counted).
        return [q["sql"] for q in queries if "gateway_rawmessage" not in q["sql"]]

    deliver_many(batch(1))  # anything done once per process is done now
    of_two, of_eight = statements(batch(2)), statements(batch(8))

    assert len(of_eight) <= len(of_two), "\n".join(of_eight)
    assert not Delivery.objects.filter(lease_until__isnull=False).exists(), "every attempt was recorded"
    assert sink.received


def test_an_error_sending_one_delivery_keeps_none_of_the_others_from_being_recorded(next_hop):
    first, broken, last = make_delivery([BOB]), make_delivery([CAROL]), make_delivery([DAVE])
    shares_the_spooled_bytes(broken)
    RawMessage.objects.filter(pk=broken.message_id).delete()

    with pytest.raises(RawMessage.DoesNotExist):
        deliver_many([first.pk, broken.pk, last.pk])

    assert sorted(mail.rcpt_tos[0] for mail in next_hop.wait_for(2)) == [BOB, DAVE]
    assert reload(first)[0].state == reload(last)[0].state == Delivery.State.DELIVERED
    # Left as deliver() always left it: leased, tried again once the lease runs out.
    broken, _, [carol] = reload(broken)
    assert broken.state == Delivery.State.PENDING
    assert broken.lease_until is not None
    assert carol.state == Recipient.State.PENDING


def test_an_output_too_large_to_come_with_the_batch_is_loaded_on_its_own_and_arrives_intact(next_hop, monkeypatch):
    monkeypatch.setattr(delivery_module, "BATCHED_CONTENT_MAX", 1000)
    large = b"Subject: large\r\n\r\n" + b"0123456789abcdef\r\n" * 200
    deliveries = [make_delivery([BOB], content=large), make_delivery([CAROL])]

    deliver_many([d.pk for d in deliveries])

    assert sorted(mail.data for mail in next_hop.wait_for(2)) == sorted([large, MESSAGE])
    assert {reload(d)[0].state for d in deliveries} == {Delivery.State.DELIVERED}


def test_a_bounce_still_owed_by_a_finished_delivery_is_queued_when_it_comes_in_a_batch(next_hop):
    owing = make_delivery([BOB])
    Delivery.objects.filter(pk=owing.pk).update(state=Delivery.State.BOUNCED)
    Recipient.objects.filter(delivery=owing).update(state=Recipient.State.BOUNCED, reply="550 5.1.1 no such user")
    fresh = make_delivery([CAROL])

    deliver_many([owing.pk, fresh.pk])

    [bounce] = bounces()
    assert [r.address for r in bounce.recipients.all()] == ["alice@example.org"]
    assert Recipient.objects.get(delivery=owing).dsn_sent
    assert [mail.rcpt_tos for mail in next_hop.wait_for(1)] == [[CAROL]]


def test_without_a_next_hop_a_batch_lands_in_the_outbox(settings, tmp_path):
    settings.LOCKPOST_NEXT_HOP = ""
    settings.LOCKPOST_OUTBOX_DIR = tmp_path / "outbox"
    deliveries = [make_delivery([BOB]), make_delivery([CAROL])]

    deliver_many([d.pk for d in deliveries])

    names = sorted(path.name for path in settings.LOCKPOST_OUTBOX_DIR.iterdir())
    assert names == sorted(f"{d.message.queue_id}-plain.eml" for d in deliveries)
    assert {reload(d)[1].state for d in deliveries} == {Message.State.DELIVERED}


def test_without_returning_an_old_sqlite_claims_the_batch_row_by_row(next_hop, monkeypatch):
    due, leased = make_delivery([BOB]), make_delivery([CAROL])
    Delivery.objects.filter(pk=leased.pk).update(lease_until=timezone.now() + datetime.timedelta(minutes=5))
    monkeypatch.setattr(bulk, "_update_can_return", lambda: False)

    deliver_many([due.pk, leased.pk])

    assert [mail.rcpt_tos for mail in next_hop.wait_for(1)] == [[BOB]]
    assert reload(due)[0].state == Delivery.State.DELIVERED
    assert reload(leased)[0].attempts == 0


@pytest.mark.django_db(transaction=True)
def test_two_workers_with_overlapping_batches_send_each_delivery_once(scripted_next_hop):
    # The sink takes its time over DATA so that both workers are at it at once;
    # the second takes the batch in the opposite order.
    sink = scripted_next_hop(delay=0.1)
    deliveries = [make_delivery([f"r{n}@example.net"]) for n in range(6)]
    ids = [d.pk for d in deliveries]
    batches = [ids[:4], list(reversed(ids[2:]))]
    start = threading.Barrier(2)
    errors = []

    def worker(batch):
        try:
            start.wait()
            deliver_many(batch)
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    copies = Counter(address for mail in sink.wait_for(6) for address in mail.rcpt_tos)
    assert copies == {f"r{n}@example.net": 1 for n in range(6)}
    for delivery in deliveries:
        delivery, message, _ = reload(delivery)
        assert delivery.attempts == 1
        assert message.state == Message.State.DELIVERED
        assert len(delivery_trail(delivery)) == 1


def test_a_delivery_whose_lease_ran_out_before_its_turn_is_not_sent(scripted_next_hop, settings):
    # Each send takes longer than a lease lasts: by the second one's turn its
    # lease has run out, and another worker may be sending it.
    settings.LOCKPOST_DELIVERY_LEASE = 0.5
    sink = scripted_next_hop(delay=0.8)
    first, late = make_delivery([BOB]), make_delivery([CAROL])

    deliver_many([first.pk, late.pk])

    assert [mail.rcpt_tos for mail in sink.wait_for(1)] == [[BOB]]
    assert reload(first)[0].state == Delivery.State.DELIVERED
    late, _, [carol] = reload(late)
    assert late.state == Delivery.State.PENDING
    assert late.lease_until <= timezone.now(), "free to be claimed again"
    assert carol.state == Recipient.State.PENDING
    assert delivery_trail(late) == []

    deliver_many([late.pk])

    assert [mail.rcpt_tos for mail in sink.wait_for(2)] == [[BOB], [CAROL]]
    assert reload(late)[0].state == Delivery.State.DELIVERED


def test_behind_a_slow_next_hop_each_outcome_is_recorded_before_the_next_send(scripted_next_hop, monkeypatch):
    """A process that dies mid-batch sends again only what it had not yet
    recorded: behind a slow next hop, no more than one delivery."""
    scripted_next_hop(delay=0.1)
    deliveries = [make_delivery([BOB]) for _ in range(3)]
    unrecorded_at_each_send = []
    send = delivery_module._send

    def watched(delivery, recipients, *rest):
        unrecorded_at_each_send.append(
            Delivery.objects.filter(pk__in=[d.pk for d in deliveries], lease_until__isnull=False).count()
        )
        return send(delivery, recipients, *rest)

    monkeypatch.setattr(delivery_module, "_send", watched)

    deliver_many([d.pk for d in deliveries])

    # Each send finds only itself and those after it leased: what went before is recorded.
    assert unrecorded_at_each_send == [3, 2, 1]
    assert set(Delivery.objects.filter(pk__in=[d.pk for d in deliveries]).values_list("state", flat=True)) == {
        Delivery.State.DELIVERED
    }
