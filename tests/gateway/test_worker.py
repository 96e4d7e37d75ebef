"""The worker: process() is idempotent and loses nothing; sweep() finds what
lost its ring or its worker; requeue() is the admin's retry."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from gateway import pipeline, worker
from gateway.delivery import output_bytes
from gateway.models import Delivery, Domain, Message, Recipient, TrailEntry
from tests.gateway.conftest import DEFAULT_PIPELINE
from tests.support.spooled import mail_bytes, spooled_message

State = Message.State
failures = {"left": 0}


def explode(ctx):
    """A handler that fails while failures["left"] > 0."""
    if failures["left"] > 0:
        failures["left"] -= 1
        raise RuntimeError("handler on fire")


def hold(ctx):
    raise pipeline.HoldMessage("quarantined by a test rule")


def two_outputs():
    """One internal, one outgoing recipient and a Bcc: three outputs."""
    rcpts = ["bob@corp.test", "carol@partner.test", "hidden@partner.test"]
    data = mail_bytes("alice@corp.test", to=rcpts[:2])
    return spooled_message("alice@corp.test", rcpts, data)


def test_process_writes_deliveries_recipients_trail_and_rings_delivery(corp, rings):
    message = two_outputs()
    assert worker.process(message.pk) == State.DELIVERING
    message.refresh_from_db()
    assert (message.state, message.lease_until, message.process_attempts) == (State.DELIVERING, None, 1)
    deliveries = list(message.deliveries.order_by("pk"))
    assert len(deliveries) == 3
    assert sorted(rings["deliveries"]) == [d.pk for d in deliveries]
    recipients = {r.address: r for r in message.recipients.all()}
    assert recipients["bob@corp.test"].direction == "internal"
    assert recipients["carol@partner.test"].direction == "outgoing"
    assert recipients["hidden@partner.test"].bcc
    assert len({r.delivery_id for r in recipients.values()}) == 3
    assert all(output_bytes(d).startswith(b"Received: ") for d in deliveries)
    assert all(d.mail_from == "alice@corp.test" for d in deliveries)
    stages = list(message.trail.values_list("stage", flat=True))
    first = [s for s in stages if s in {"classify", "settings", "group", "trace"}]
    assert first == ["classify", "settings", "group", "trace"]  # in order, whatever else runs
    assert stages[-1] == "worker"


def test_processing_twice_makes_one_delivery_per_group(corp, rings):
    message = two_outputs()
    worker.process(message.pk)
    assert worker.process(message.pk) is None  # no longer free to take
    assert Delivery.objects.filter(message=message).count() == 3


def test_a_worker_that_died_mid_run_is_replaced_without_a_second_output(corp, rings):
    message = two_outputs()
    assert worker.claim(message.pk)  # a worker took it ... and died
    Message.objects.filter(pk=message.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert worker.process(message.pk) == State.DELIVERING
    assert Delivery.objects.filter(message=message).count() == 3
    assert Message.objects.get(pk=message.pk).process_attempts == 2


def test_a_live_lease_keeps_other_workers_out(corp, rings):
    message = two_outputs()
    assert worker.claim(message.pk)
    assert worker.process(message.pk) is None
    assert not Delivery.objects.filter(message=message).exists()


stale = {"armed": False}


def overtaken(ctx):
    """While this (slow) worker runs, its lease expires and another worker
    processes the message to the end."""
    if stale["armed"]:
        stale["armed"] = False
        message = Message.objects.get(queue_id=ctx.queue_id)
        Message.objects.filter(pk=message.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
        assert worker.process(message.pk) == State.DELIVERING


def test_a_worker_that_lost_its_lease_writes_nothing(corp, rings, with_handler):
    with_handler("tests.gateway.test_worker.overtaken")
    message = two_outputs()
    stale["armed"] = True
    assert worker.process(message.pk) is None  # the slow one finds its lease gone
    assert Delivery.objects.filter(message=message).count() == 3
    assert message.trail.filter(stage="worker", text__startswith="pipeline done").count() == 1


def test_a_recipient_that_already_has_a_delivery_gets_no_second_copy(corp, rings):
    message = two_outputs()
    worker.process(message.pk)
    bob = message.recipients.get(address="bob@corp.test")
    Delivery.objects.filter(pk=bob.delivery_id).update(state=Delivery.State.DELIVERED)
    Recipient.objects.filter(pk=bob.pk).update(state=Recipient.State.DELIVERED)
    # Suppose the admin sends the whole message round again.
    Message.objects.filter(pk=message.pk).update(state=State.HELD)
    worker.requeue(message.pk)
    assert worker.process(message.pk) == State.DELIVERING
    assert Delivery.objects.filter(message=message).count() == 3
    bob.refresh_from_db()
    assert bob.state == Recipient.State.DELIVERED


def test_a_failing_handler_retries_later_and_loses_nothing(corp, rings, with_handler, settings):
    settings.LOCKPOST_RETRY_FIRST = 60
    with_handler("tests.gateway.test_worker.explode")
    failures["left"] = 1
    message = two_outputs()
    before = timezone.now()
    assert worker.process(message.pk) == State.RECEIVED
    message.refresh_from_db()
    assert message.state == State.RECEIVED
    assert message.lease_until >= before + timedelta(seconds=60)  # the next try, not before
    error = message.trail.get(stage="error")
    assert "test_worker.explode failed (attempt 1): RuntimeError: handler on fire" in error.text
    assert "RuntimeError" in "".join(error.data["traceback"])
    assert not message.deliveries.exists()
    # Ringing early does nothing: the retry time has not come.
    assert worker.process(message.pk) is None
    assert worker.sweep()["retry"] == 0
    # When it has come, the sweeper rings and the next run succeeds.
    counts = worker.sweep(now=message.lease_until + timedelta(seconds=1))
    assert counts["retry"] == 1
    assert rings["messages"] == [message.pk]
    assert worker.process(message.pk) == State.DELIVERING
    assert message.deliveries.count() == 3


def test_a_handler_that_keeps_failing_is_held_for_the_admin(corp, rings, with_handler, settings):
    settings.LOCKPOST_PROCESS_ATTEMPTS = 3
    with_handler("tests.gateway.test_worker.explode")
    failures["left"] = 99
    message = two_outputs()
    for attempt in range(3):
        Message.objects.filter(pk=message.pk).update(lease_until=None)  # time passes
        expected = State.HELD if attempt == 2 else State.RECEIVED
        assert worker.process(message.pk) == expected
    message.refresh_from_db()
    assert message.state == State.HELD
    assert message.trail.filter(stage="error").count() == 3
    assert message.trail.filter(text="held for the admin after 3 failed attempts").exists()
    assert message.raw.data  # the bytes are still there
    assert set(message.recipients.values_list("state", flat=True)) == {Recipient.State.HELD}
    # Held messages are not retried by the sweeper ...
    assert worker.sweep(now=timezone.now() + timedelta(days=1)) == {
        "expired": 0,
        "retry": 0,
        "lost": 0,
        "deliveries": 0,
        "bounces": 0,
    }
    # ... but by the admin, once the cause is fixed.
    failures["left"] = 0
    assert worker.requeue(message.pk, by="admin") == "requeued for processing"
    assert rings["messages"] == [message.pk]
    assert worker.process(message.pk) == State.DELIVERING
    assert message.trail.filter(stage="admin", text="requeued for processing by admin").exists()


def test_a_worker_killed_on_a_message_again_and_again_is_stopped(corp, rings, settings):
    settings.LOCKPOST_PROCESS_ATTEMPTS = 2
    message = two_outputs()
    for _ in range(2):  # claimed, then the worker dies each time
        assert worker.claim(message.pk)
        Message.objects.filter(pk=message.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert worker.process(message.pk) == State.HELD
    assert message.trail.filter(text="held after 2 unfinished attempts").exists()


def test_hold_message_holds_and_requeue_releases(corp, rings, with_handler, settings):
    with_handler("tests.gateway.test_worker.hold")
    message = two_outputs()
    assert worker.process(message.pk) == State.HELD
    assert message.trail.filter(stage="worker", text="held: quarantined by a test rule").exists()
    assert not message.deliveries.exists()
    settings.LOCKPOST_PIPELINE = DEFAULT_PIPELINE
    worker.requeue(message.pk)
    assert worker.process(message.pk) == State.DELIVERING


def test_requeue_of_a_message_in_delivery_retries_deferred_deliveries_now(corp, rings):
    message = two_outputs()
    worker.process(message.pk)
    later = timezone.now() + timedelta(hours=1)
    message.deliveries.update(state=Delivery.State.DEFERRED, next_attempt_at=later)
    rings["deliveries"].clear()
    assert worker.requeue(message.pk) == "3 waiting deliver(y/ies) retried now"
    assert sorted(rings["deliveries"]) == sorted(message.deliveries.values_list("pk", flat=True))
    assert all(d.next_attempt_at <= timezone.now() for d in message.deliveries.all())


def test_sweep_rings_messages_whose_ring_was_lost(corp, rings, settings):
    settings.LOCKPOST_RING_GRACE = 60
    old = spooled_message(received_at=timezone.now() - timedelta(minutes=5))
    fresh = spooled_message()
    assert worker.sweep()["lost"] == 1
    assert rings["messages"] == [old.pk]
    # Rung now: not rung again until the grace has passed once more.
    assert worker.sweep()["lost"] == 0
    assert worker.sweep(now=timezone.now() + timedelta(minutes=2))["lost"] == 2
    assert sorted(rings["messages"]) == sorted([old.pk, old.pk, fresh.pk])


def test_sweep_gives_back_messages_whose_worker_died(corp, rings):
    message = spooled_message()
    worker.claim(message.pk)
    assert worker.sweep()["expired"] == 0  # the lease is still live
    message.refresh_from_db()
    counts = worker.sweep(now=message.lease_until + timedelta(seconds=1))
    assert counts["expired"] == 1
    message.refresh_from_db()
    assert (message.state, message.lease_until) == (State.RECEIVED, None)
    assert rings["messages"] == [message.pk]


def test_sweep_rings_deliveries_that_are_due(corp, rings, settings):
    settings.LOCKPOST_RING_GRACE = 60
    message = two_outputs()
    worker.process(message.pk)
    rings["deliveries"].clear()
    first, second, third = message.deliveries.order_by("pk")
    now = timezone.now()
    Delivery.objects.filter(pk=first.pk).update(state=Delivery.State.DEFERRED, next_attempt_at=now)
    Delivery.objects.filter(pk=second.pk).update(
        state=Delivery.State.DEFERRED, next_attempt_at=now + timedelta(hours=1)
    )
    # The third is pending and was rung just now: not yet.
    assert worker.sweep()["deliveries"] == 1
    assert rings["deliveries"] == [first.pk]
    rings["deliveries"].clear()
    assert worker.sweep(now=now + timedelta(minutes=5))["deliveries"] == 2
    assert sorted(rings["deliveries"]) == [first.pk, third.pk]


def test_sweep_rings_finished_deliveries_that_still_owe_a_bounce(corp, rings):
    message = two_outputs()
    worker.process(message.pk)
    rings["deliveries"].clear()
    first = message.deliveries.order_by("pk").first()
    # Bounced at the next hop, but the spool failed when the DSN was queued.
    Delivery.objects.filter(pk=first.pk).update(state=Delivery.State.BOUNCED, attempts=1)
    Recipient.objects.filter(delivery=first).update(state=Recipient.State.BOUNCED, reply="550 5.1.1 no such user")
    assert worker.sweep()["bounces"] == 1
    assert rings["deliveries"] == [first.pk]


def slow(ctx):
    time.sleep(1.0)


@pytest.mark.django_db(transaction=True)
def test_a_long_pipeline_keeps_its_lease(rings, with_handler, settings):
    Domain.objects.create(name="corp.test", internal=True)
    settings.LOCKPOST_PROCESS_LEASE = 0.3  # renewed every 0.1 s
    with_handler("tests.gateway.test_worker.slow")
    message = two_outputs()
    result = {}

    def run():
        try:
            result["state"] = worker.process(message.pk)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(0.6)  # twice the lease: it would have run out without renewal
    assert worker.sweep()["expired"] == 0
    assert worker.process(message.pk) is None
    thread.join()
    assert result["state"] == State.DELIVERING
    assert Delivery.objects.filter(message=message).count() == 3


def test_trail_entries_are_kept_in_order(corp, rings):
    message = two_outputs()
    worker.process(message.pk)
    texts = list(TrailEntry.objects.filter(message=message).values_list("text", flat=True))
    assert texts[0].startswith("sender internal; recipients: 1 internal, 2 outgoing")
    assert texts[-1] == "pipeline done: 3 new output(s)"


def test_a_requeue_where_no_worker_runs_is_rung_by_the_next_sweep(corp, settings, monkeypatch):
    # The admin runs in the web app, which has no worker to ring.
    settings.LOCKPOST_RING_GRACE = 60
    message = spooled_message(received_at=timezone.now() - timedelta(hours=1))
    Message.objects.filter(pk=message.pk).update(state=State.HELD, rung_at=timezone.now())
    worker.requeue(message.pk)
    message.refresh_from_db()
    assert (message.state, message.rung_at) == (State.RECEIVED, None)
    rung = []
    monkeypatch.setattr("gateway.doorbell.ring", rung.append)
    assert worker.sweep()["lost"] == 1
    assert rung == [message.pk]
