"""The worker in batches: process_many() gives each message of a batch what
process() would have given it alone, one message's trouble holds back none
of the others, and the batch's SQL does not grow with its size."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from gateway import embedded, worker
from gateway.delivery import output_bytes
from gateway.models import Delivery, Domain, Message, Recipient
from tests.support.spooled import mail_bytes, spooled_message
from tests.support.waiting import wait_until

State = Message.State


def spooled(n, subject="Hello"):
    """n messages from alice, each to its own outside recipient and bob."""
    messages = []
    for i in range(n):
        rcpts = ["bob@corp.test", f"r{i}@partner.test"]
        messages.append(spooled_message("alice@corp.test", rcpts, mail_bytes(to=rcpts, subject=f"{subject} {i}")))
    return messages


trouble = {"subject": None}


def fails_on_its_subject(ctx):
    """A handler that fails on the message whose subject trouble names."""
    if trouble["subject"] and f"Subject: {trouble['subject']}\r\n".encode() in ctx.raw:
        raise RuntimeError("handler on fire")


def test_each_message_of_a_batch_gets_its_own_deliveries_links_and_trail(corp, rings):
    messages = spooled(5)

    states = worker.process_many([m.pk for m in messages])

    assert states == {m.pk: State.DELIVERING for m in messages}
    for i, message in enumerate(messages):
        message.refresh_from_db()
        assert (message.state, message.lease_until, message.process_attempts) == (State.DELIVERING, None, 1)
        recipients = {r.address: r for r in message.recipients.select_related("delivery")}
        assert recipients["bob@corp.test"].direction == "internal"
        assert recipients[f"r{i}@partner.test"].direction == "outgoing"
        # Each recipient linked to a delivery of its own message, carrying its own message's bytes.
        for recipient in recipients.values():
            assert recipient.delivery.message_id == message.pk
            assert f"Subject: Hello {i}\r\n".encode() in output_bytes(recipient.delivery)
        assert message.trail.filter(stage="worker", text="pipeline done: 2 new output(s)").count() == 1
    assert sorted(rings["deliveries"]) == sorted(Delivery.objects.values_list("pk", flat=True))


def test_a_batch_takes_only_messages_free_to_take(corp, rings):
    free, leased, done = spooled(3)
    Message.objects.filter(pk=leased.pk).update(
        state=State.PROCESSING, lease_until=timezone.now() + timedelta(minutes=5)
    )
    worker.process(done.pk)

    states = worker.process_many([free.pk, leased.pk, done.pk])

    assert states == {free.pk: State.DELIVERING}
    assert not Delivery.objects.filter(message=leased).exists()
    assert Delivery.objects.filter(message=done).count() == 2  # not a second time


def test_a_failing_message_is_retried_alone_and_the_rest_go_on(corp, rings, with_handler, settings):
    with_handler("tests.gateway.test_worker_batch.fails_on_its_subject")
    settings.LOCKPOST_RETRY_FIRST = 30
    messages = spooled(4)
    trouble["subject"] = "Hello 2"
    try:
        states = worker.process_many([m.pk for m in messages])
    finally:
        trouble["subject"] = None

    bad = messages[2]
    assert states[bad.pk] == State.RECEIVED
    bad.refresh_from_db()
    assert bad.lease_until > timezone.now() + timedelta(seconds=20)  # not before its retry time
    assert bad.trail.filter(stage="error", text__contains="handler on fire").exists()
    assert not Delivery.objects.filter(message=bad).exists()
    for message in [m for m in messages if m != bad]:
        assert states[message.pk] == State.DELIVERING
        assert Delivery.objects.filter(message=message).count() == 2


def test_a_message_whose_results_cannot_be_written_holds_back_no_other(corp, rings, monkeypatch, settings):
    settings.LOCKPOST_RETRY_FIRST = 30
    messages = spooled(3)
    poisoned = messages[1].pk
    write = worker._write_deliveries

    def write_or_fail(batch, *rest):
        if any(m.pk == poisoned for m in batch):
            raise RuntimeError("the database refused the row")
        return write(batch, *rest)

    monkeypatch.setattr(worker, "_write_deliveries", write_or_fail)

    states = worker.process_many([m.pk for m in messages])

    assert states[poisoned] == State.RECEIVED  # retried later, nothing lost
    assert Message.objects.get(pk=poisoned).trail.filter(text__contains="the database refused the row").exists()
    assert not Delivery.objects.filter(message_id=poisoned).exists()
    for message in (messages[0], messages[2]):
        assert states[message.pk] == State.DELIVERING
        assert Delivery.objects.filter(message=message).count() == 2


def test_sent_right_away_the_outputs_need_no_ring_and_no_claim(corp, rings, settings, smtp_sink):
    settings.LOCKPOST_NEXT_HOP = smtp_sink.address
    messages = spooled(3)

    with CaptureQueriesContext(connection) as queries:
        states = worker.process_many([m.pk for m in messages], send_now=True)

    assert rings["deliveries"] == []
    assert not [q for q in queries.captured_queries if q["sql"].startswith('UPDATE "gateway_delivery" SET lease_until')]
    assert len(smtp_sink.wait_for(6)) == 6  # two outputs a message
    for message in messages:
        message.refresh_from_db()
        assert message.state == State.DELIVERED, states
        assert set(Delivery.objects.filter(message=message).values_list("state", "attempts", "lease_until")) == {
            (Delivery.State.DELIVERED, 1, None)
        }
        assert message.trail.filter(stage="delivery", text__contains="attempt 1 via").count() == 2


def test_sending_right_away_leaves_an_older_delivery_to_the_worker_sending_it(corp, rings, settings, smtp_sink):
    settings.LOCKPOST_NEXT_HOP = smtp_sink.address
    message = spooled_message("alice@corp.test", ["bob@corp.test"], mail_bytes(to=["bob@corp.test"]))
    worker.process(message.pk)
    bobs = Delivery.objects.get(message=message)
    # Another worker is sending Bob's copy right now ...
    Delivery.objects.filter(pk=bobs.pk).update(lease_until=timezone.now() + timedelta(minutes=5), attempts=1)
    # ... when a recipient released from a hold has the message processed again.
    Recipient.objects.create(message=message, address="carol@partner.test", position=1)
    Message.objects.filter(pk=message.pk).update(state=State.RECEIVED)

    worker.process_many([message.pk], send_now=True)

    assert [mail.rcpt_tos for mail in smtp_sink.wait_for(1)] == [["carol@partner.test"]]
    bobs.refresh_from_db()
    assert (bobs.state, bobs.attempts) == (Delivery.State.PENDING, 1)  # still the other worker's


overtake = {"subject": None}


def overtaken_by_another_worker(ctx):
    """While the batch runs, this message's lease runs out and another
    worker processes it to the end."""
    if overtake["subject"] and f"Subject: {overtake['subject']}\r\n".encode() in ctx.raw:
        overtake["subject"] = None
        message = Message.objects.get(queue_id=ctx.queue_id)
        Message.objects.filter(pk=message.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
        assert worker.process(message.pk) == State.DELIVERING


def test_a_message_lost_to_another_worker_mid_batch_is_written_once(corp, rings, with_handler):
    with_handler("tests.gateway.test_worker_batch.overtaken_by_another_worker")
    messages = spooled(3)
    overtake["subject"] = "Hello 1"

    states = worker.process_many([m.pk for m in messages])

    lost = messages[1]
    assert states[lost.pk] is None
    assert Delivery.objects.filter(message=lost).count() == 2  # the other worker's, no more
    assert lost.trail.filter(stage="worker", text__startswith="pipeline done").count() == 1
    for message in (messages[0], messages[2]):
        assert states[message.pk] == State.DELIVERING
        assert Delivery.objects.filter(message=message).count() == 2


def writes(captured):
    return [q["sql"] for q in captured.captured_queries if q["sql"].startswith(("INSERT", "UPDATE", "DELETE"))]


def lookups(captured):
    """Statements other than the raw bytes' load (one a message, and not
    through Django's cursor on PostgreSQL)."""
    return [q["sql"] for q in captured.captured_queries if "gateway_rawmessage" not in q["sql"]]


def test_a_batch_writes_with_as_many_statements_for_eight_messages_as_for_two(corp, rings):
    """The point of batches: every write is shared, and so are the policy
    epoch, the DLP quarantine check and the sender's certificates. Per
    message only its raw bytes and the lookups for its own recipient remain:
    its certificates, then its domain's (it has none), and its user row."""
    worker.process_many([m.pk for m in spooled(2, "warm")])  # settings and rules now cached
    small, large = spooled(2, "small"), spooled(8, "large")
    with CaptureQueriesContext(connection) as for_two:
        worker.process_many([m.pk for m in small])
    with CaptureQueriesContext(connection) as for_eight:
        worker.process_many([m.pk for m in large])

    assert len(writes(for_eight)) == len(writes(for_two))
    lookups_per_message = (len(lookups(for_eight)) - len(lookups(for_two))) / 6
    assert lookups_per_message <= 3, "\n".join(sql[:100] for sql in lookups(for_eight))
    assert Recipient.objects.filter(delivery__isnull=True).count() == 0


@pytest.mark.django_db(transaction=True)
def test_the_embedded_worker_takes_waiting_messages_in_batches(rings, settings, monkeypatch):
    Domain.objects.create(name="corp.test", internal=True)
    messages = spooled(12)
    batches = []
    run_jobs = embedded.run_jobs

    def recorded(kind, ids):
        batches.append(list(ids))
        run_jobs(kind, ids)

    monkeypatch.setattr(embedded, "run_jobs", recorded)
    pool = embedded.EmbeddedWorker(threads=1, sweep_interval=3600, batch=5)
    for message in messages:
        pool.submit("message", message.pk)  # all waiting before the worker starts
    pool.start()
    try:
        wait_until(lambda: not Message.objects.filter(state=State.RECEIVED).exists(), what="all processed")
    finally:
        pool.stop()
        connection.close()

    assert [len(b) for b in batches] == [5, 5, 2]
    assert Delivery.objects.count() == 24


@pytest.mark.django_db(transaction=True)
def test_an_idle_embedded_worker_takes_messages_nobody_rang_for(rings, settings):
    """As when a sibling process was rung for more than it can do: an idle
    worker finds the waiting messages in the spool itself, long before a sweep."""
    Domain.objects.create(name="corp.test", internal=True)
    pool = embedded.EmbeddedWorker(threads=1, sweep_interval=3600, batch=5).start()
    try:
        wait_until(lambda: pool.idle(), what="the start-up sweep done")
        messages = spooled(7)  # in the spool, never rung for in this process
        wait_until(lambda: not Message.objects.filter(state=State.RECEIVED).exists(), timeout=10, what="all taken")
    finally:
        pool.stop()
        connection.close()
    assert Delivery.objects.filter(message__in=messages).count() == 14


# --- outputs of a first run are sent before they are written ----------------


def test_a_first_runs_outputs_are_written_once_with_their_outcome(corp, rings, next_hop):
    messages = spooled(3)

    with CaptureQueriesContext(connection) as queries:
        worker.process_many([m.pk for m in messages], send_now=True)

    received = [(mail.rcpt_tos, mail.data) for mail in next_hop.wait_for(6)]
    # Written once, sent already: no delivery row is locked, updated or read again afterwards.
    assert not [q for q in queries.captured_queries if '"gateway_delivery"' in q["sql"] and "INSERT" not in q["sql"]]
    for message in messages:
        message.refresh_from_db()
        assert message.state == State.DELIVERED
        for delivery in Delivery.objects.filter(message=message):
            assert (delivery.state, delivery.attempts, delivery.lease_until) == (Delivery.State.DELIVERED, 1, None)
            assert delivery.finished_at is not None
            assert "250" in delivery.last_reply
            [recipient] = delivery.recipients.all()
            assert (recipient.state, recipient.reply) == (Recipient.State.DELIVERED, "250 2.0.0 OK: queued")
            # What is written is what was sent.
            assert ([recipient.address], output_bytes(delivery)) in received
        trail = list(message.trail.values_list("stage", "text"))
        assert trail.index(("worker", "pipeline done: 2 new output(s)")) < len(trail) - 2
        assert all("attempt 1 via" in text for stage, text in trail if stage == "delivery")


def test_an_output_deferred_before_it_is_written_is_kept_for_its_retry(corp, rings, scripted_next_hop, settings):
    sink = scripted_next_hop(data_replies=["451 4.3.0 try later"])
    [message] = spooled(1)

    worker.process_many([message.pk], send_now=True)

    message.refresh_from_db()
    assert message.state == State.DELIVERING
    deferred = Delivery.objects.get(message=message, state=Delivery.State.DEFERRED)
    assert (deferred.lease_until, deferred.attempts) == (None, 1)
    assert deferred.next_attempt_at > timezone.now() + timedelta(seconds=50)  # LOCKPOST_RETRY_FIRST 60, jittered
    assert deferred.recipients.get().reply == "451 4.3.0 try later"
    [first] = sink.wait_for(1)  # the other output went through

    # Its bytes were written: the retry sends them.
    Delivery.objects.filter(pk=deferred.pk).update(next_attempt_at=timezone.now())
    from gateway.delivery import deliver

    deliver(deferred.pk)
    retried = sink.wait_for(2)[1]
    assert retried.rcpt_tos != first.rcpt_tos
    message.refresh_from_db()
    assert message.state == State.DELIVERED


def test_an_output_refused_before_it_is_written_bounces_to_the_sender(corp, rings, scripted_next_hop):
    scripted_next_hop(rcpt_replies={"r0@partner.test": "550 5.1.1 no such user"})
    [message] = spooled(1)

    worker.process_many([message.pk], send_now=True)

    message.refresh_from_db()
    assert message.state == State.PARTLY_DELIVERED
    refused = Recipient.objects.get(message=message, address="r0@partner.test")
    assert (refused.state, refused.reply, refused.dsn_sent) == (
        Recipient.State.BOUNCED,
        "550 5.1.1 no such user",
        True,
    )
    assert refused.delivery.state == Delivery.State.BOUNCED
    bounce = Message.objects.get(mail_from="", recipients__address="alice@corp.test")
    assert b"r0@partner.test" in bytes(bounce.raw.data)


def test_sending_before_writing_stops_in_time_and_the_rest_is_sent_after(corp, rings, scripted_next_hop, monkeypatch):
    """A slow next hop: only what is sent within RECORD_EVERY waits for the
    commit (a crash meanwhile sends that again); the rest is written first,
    then sent and recorded as a delivery batch is. Each copy goes once."""
    sink = scripted_next_hop(delay=0.05)
    monkeypatch.setattr(worker, "RECORD_EVERY", 0.01)
    messages = spooled(2)
    written_unsent = []
    deliver_taken = worker.deliver_taken

    def watched(deliveries, everyone):
        written_unsent.extend(deliveries)
        return deliver_taken(deliveries, everyone)

    monkeypatch.setattr(worker, "deliver_taken", watched)

    worker.process_many([m.pk for m in messages], send_now=True)

    assert len(written_unsent) == 3  # the first of four outputs went before the commit
    assert sorted(tuple(mail.rcpt_tos) for mail in sink.wait_for(4)) == sorted(
        (address,) for address in ["bob@corp.test", "r0@partner.test", "bob@corp.test", "r1@partner.test"]
    )
    written = set(Delivery.objects.values_list("state", "attempts", "lease_until"))
    assert written == {(Delivery.State.DELIVERED, 1, None)}
