"""Processing a spooled message: claim it with a lease, run the pipeline,
store its outputs as Delivery rows, all idempotent.

How a message stays safe whatever dies when:

- `process` claims the message by moving it to `processing` with a lease
  (`lease_until`) and keeps renewing that lease while the pipeline runs. A
  worker that dies stops renewing; the lease runs out and `sweep` gives the
  message back to `received` and rings again.
- The results (Delivery rows, recipient links, trail, state `delivering`) are
  written in one transaction, and only while the lease is still ours: the
  lease's expiry time is the fencing token. So a slow worker whose message
  was taken over writes nothing, and a crash before the commit leaves nothing
  half-written.
- Deliveries are found again by their group key, and a recipient that already
  has a delivery is never given a second one.
- A handler that raises is written to the trail and retried with backoff:
  the message goes back to `received` with `lease_until` set to the time of
  the next try (nobody may claim it before). After LOCKPOST_PROCESS_ATTEMPTS
  claims it is held for the admin. Nothing is ever dropped.
"""

import logging
import threading
import traceback
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from gateway import doorbell, pipeline
from gateway.bulk import update_alike
from gateway.delivery import deliveries_owing_dsns
from gateway.models import Delivery, Message, Recipient, TrailEntry
from gateway.spool_raw import load_raw

log = logging.getLogger(__name__)

State = Message.State
OUTSTANDING = [Delivery.State.PENDING, Delivery.State.DEFERRED]


class LeaseLost(Exception):
    """Another worker took the message over after our lease ran out."""


# --- processing ------------------------------------------------------------


def process(message_id):
    """Process one message if it is ours to take. Returns the new state, or
    None when the message was not free (already done, or leased by another)."""
    lease = claim(message_id)
    if lease is None:
        return None
    message = Message.objects.get(pk=message_id)
    if message.process_attempts > settings.LOCKPOST_PROCESS_ATTEMPTS:
        # Claimed again and again without finishing: something kills the
        # worker on this message. Stop before it kills the next one.
        return _hold(message_id, lease, [], f"held after {message.process_attempts - 1} unfinished attempts")
    context = None
    keeper = LeaseKeeper(message_id, lease)
    try:
        context = load_context(message)
        with keeper:
            pipeline.run(context)
        return _finish(message_id, keeper.until, context)
    except pipeline.HoldMessage as hold:
        return _hold(message_id, keeper.until, context.trail, f"held: {hold}")
    except LeaseLost:
        log.warning("message %s: lease lost to another worker; leaving it to them", message_id)
        return None
    except Exception as error:
        log.exception("message %s: processing failed", message_id)
        trail = context.trail if context is not None else []
        return _fail(message_id, keeper.until, trail, error, message.process_attempts)


def claim(message_id, now=None):
    """Take the message for processing. Returns the lease's expiry (the
    fencing token), or None when it is not free to take."""
    now = now or timezone.now()
    until = now + timedelta(seconds=settings.LOCKPOST_PROCESS_LEASE)
    lease_free = Q(lease_until__isnull=True) | Q(lease_until__lte=now)
    taken = (
        Message.objects.filter(pk=message_id, state__in=[State.RECEIVED, State.PROCESSING])
        .filter(lease_free)
        .update(state=State.PROCESSING, lease_until=until, process_attempts=F("process_attempts") + 1, updated_at=now)
    )
    return until if taken else None


def load_context(message):
    """A pipeline.Context built from the spool."""
    # The spool's own reader: the ORM would hold the bytes several times over.
    raw = load_raw(message.pk)
    recipients = [
        pipeline.RecipientInfo(address=r.address, position=r.position)
        for r in message.recipients.order_by("position")
        if r.delivery_id is None and r.state in (Recipient.State.PENDING, Recipient.State.HELD)
    ]
    return pipeline.Context(
        queue_id=message.queue_id,
        mail_from=message.mail_from,
        raw=raw,
        original=raw,
        recipients=recipients,
        client_address=message.client_address,
        client_helo=message.client_helo,
        received_at=message.received_at,
        profile=message.listener_profile,
    )


class LeaseKeeper:
    """Renews a message's lease from a side thread while the pipeline runs,
    so a long pipeline keeps its message and a dead one loses it soon."""

    def __init__(self, message_id, until):
        self.message_id = message_id
        self.until = until
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{message_id}", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        if self.lost and exc[0] is None:
            raise LeaseLost(self.message_id)

    def _run(self):
        interval = settings.LOCKPOST_PROCESS_LEASE / 3
        try:
            while not self._stop.wait(interval) and not self.lost:
                self.renew()
        finally:
            connection.close()

    def renew(self):
        until = timezone.now() + timedelta(seconds=settings.LOCKPOST_PROCESS_LEASE)
        try:
            renewed = Message.objects.filter(pk=self.message_id, state=State.PROCESSING, lease_until=self.until).update(
                lease_until=until
            )
        except Exception:
            # A busy database is no reason to give up the message; try again next time.
            log.warning("message %s: could not renew lease", self.message_id, exc_info=True)
            close_old_connections()
            return
        if renewed:
            self.until = until
        else:
            self.lost = True


def _locked_message(message_id, lease):
    """Inside a transaction: the message, if our lease still holds it."""
    message = Message.objects.select_for_update().get(pk=message_id)
    if lease is None or message.state != State.PROCESSING or message.lease_until != lease:
        raise LeaseLost(message_id)
    return message


def _finish(message_id, lease, context):
    with transaction.atomic():
        message = _locked_message(message_id, lease)
        # Read after the lock, so that no other writer's rows are missed.
        rows = {r.position: r for r in message.recipients.all()}
        deliveries, made, linked = _write_deliveries(message, rows, context)
        _write_recipients(rows, linked, context)
        context.note("worker", f"pipeline done: {made} new output(s)")
        _write_trail(message, context.trail)
        if any(d.state in OUTSTANDING for d in deliveries):
            message.state = State.DELIVERING
        else:
            from gateway.delivery import message_state

            message.state = message_state(r.state for r in rows.values()) or State.DELIVERED
        message.lease_until = None
        message.save(update_fields=["state", "lease_until", "updated_at"])
    pending = [d.pk for d in deliveries if d.state == Delivery.State.PENDING]
    refused = [d.pk for d in deliveries if d.state == Delivery.State.BOUNCED and d.attempts == 0]
    for delivery_id in pending:
        doorbell.ring_delivery(delivery_id)
    if refused:
        from gateway.delivery import send_owed_dsns

        for delivery_id in refused:
            # Not queued now (spool failing): still owed, delivery.deliveries_owing_dsns lists it.
            try:
                send_owed_dsns(delivery_id)
            except Exception:
                log.exception("message %s: the bounce for refused recipients is not queued yet", message_id)
    return message.state


def _write_deliveries(message, rows, context):
    """One Delivery per group, found again by its key. Recipients that already
    have a delivery (an earlier run, a released hold) get no second one.
    Links the rows in `rows` in memory (_write_recipients saves them).
    Returns (every delivery of the message, how many were made now, the
    positions linked now)."""
    taken = {position for position, row in rows.items() if row.delivery_id is not None}
    # A delivery is written in the same transaction as the links to it, and
    # links are never removed: with no recipient linked there is no delivery
    # to find again, so a first run need not look.
    fields = ("id", "message", "group_key", "state", "attempts")
    existing = {d.group_key: d for d in message.deliveries.only(*fields)} if taken else {}
    new, links, linked = [], [], set()
    for group in context.groups:
        positions = sorted(p for p in group.positions if p not in taken)
        if not positions:
            continue
        key = group.key if positions == sorted(group.positions) else pipeline.group_key(group.treatment, positions)
        refused = {p: context.recipient(p).refusal for p in positions if context.recipient(p).refusal}
        delivery = existing.get(key)
        if delivery is None:
            delivery = existing[key] = _new_delivery(message, key, group, context)
            if refused and len(refused) == len(positions):
                # Refused whole by a handler: never sent; delivery's DSN path
                # (send_owed_dsns) tells the sender.
                delivery.state, delivery.finished_at = Delivery.State.BOUNCED, timezone.now()
                delivery.last_reply = "; ".join(f"{context.recipient(p).address}: {r}" for p, r in refused.items())
            new.append(delivery)
        links.append((delivery, positions, refused))
        taken.update(positions)
    Delivery.objects.bulk_create(new)
    for delivery, positions, refused in links:
        for position in positions:
            row = rows.get(position)
            if row is not None:
                row.delivery = delivery
                row.state = Recipient.State.BOUNCED if position in refused else Recipient.State.PENDING
                row.reply = refused.get(position, row.reply)
                linked.add(position)
    return list(existing.values()), len(new), linked


def _new_delivery(message, key, group, context):
    return Delivery(
        message=message,
        group_key=key,
        treatment=group.treatment,
        mail_from=context.mail_from,
        # Sent from the spool when it is the message as received: a large
        # message is then stored once, not once per output.
        **(
            {"prefix": context.prefix, "content": b""}
            if context.shares_spooled_bytes(group)
            else {"prefix": b"", "content": context.content_for(group)}
        ),
    )


def _write_recipients(rows, linked, context):
    """Saves the links made by _write_deliveries and the pipeline's direction
    and Bcc, each row once (one statement for the usual first run)."""
    infos = {info.position: info for info in context.recipients}
    to_link, classified = [], []
    for position, row in rows.items():
        info = infos.get(position)
        changed = info is not None and (row.direction, row.bcc) != (info.direction, info.bcc)
        if changed:
            row.direction, row.bcc = info.direction, info.bcc
        if position in linked:
            to_link.append(row)
        elif changed:
            classified.append(row)
    # Only rows still without a delivery are linked (as the message lock
    # already ensures): a recipient never gets a second one.
    update_alike(
        Recipient.objects.filter(delivery__isnull=True), to_link, ["delivery", "state", "reply", "direction", "bcc"]
    )
    # Direction and Bcc only: a row with a delivery may be written meanwhile
    # by its sender (state, reply), which must not be undone here.
    update_alike(Recipient.objects.all(), classified, ["direction", "bcc"])


def _write_trail(message, notes):
    TrailEntry.objects.bulk_create(
        TrailEntry(message=message, stage=n.stage, text=n.text, data=_plain(n.data)) for n in notes
    )


def _plain(data):
    """Trail data is JSON; a handler may note anything, so make it so."""
    return {
        str(k): v if isinstance(v, str | int | float | bool | type(None) | list | dict) else str(v)
        for k, v in data.items()
    }


def _hold(message_id, lease, notes, reason):
    try:
        with transaction.atomic():
            message = _locked_message(message_id, lease)
            _write_trail(message, [*notes, pipeline.TrailNote("worker", reason)])
            message.recipients.filter(state=Recipient.State.PENDING, delivery__isnull=True).update(
                state=Recipient.State.HELD
            )
            message.state = State.HELD
            message.lease_until = None
            message.save(update_fields=["state", "lease_until", "updated_at"])
    except LeaseLost:
        return None
    log.info("message %s: %s", message_id, reason)
    return State.HELD


def retry_delay(attempt):
    """Seconds before the next try after `attempt` failed ones: doubling from
    LOCKPOST_RETRY_FIRST up to LOCKPOST_RETRY_MAX, as delivery does."""
    return min(settings.LOCKPOST_RETRY_FIRST * 2 ** max(attempt - 1, 0), settings.LOCKPOST_RETRY_MAX)


def _fail(message_id, lease, notes, error, attempt):
    where = error.handler if isinstance(error, pipeline.HandlerError) else "worker"
    cause = error.error if isinstance(error, pipeline.HandlerError) else error
    failure = pipeline.TrailNote(
        "error",
        f"{where} failed (attempt {attempt}): {type(cause).__name__}: {cause}",
        {"handler": where, "traceback": traceback.format_exception(cause)[-6:]},
    )
    if attempt >= settings.LOCKPOST_PROCESS_ATTEMPTS:
        return _hold(message_id, lease, [*notes, failure], f"held for the admin after {attempt} failed attempts")
    delay = retry_delay(attempt)
    try:
        with transaction.atomic():
            message = _locked_message(message_id, lease)
            _write_trail(message, [*notes, failure, pipeline.TrailNote("worker", f"will try again in {delay:g}s")])
            message.state = State.RECEIVED
            message.lease_until = timezone.now() + timedelta(seconds=delay)  # not before
            message.save(update_fields=["state", "lease_until", "updated_at"])
    except LeaseLost:
        return None
    return State.RECEIVED


# --- the admin's requeue ---------------------------------------------------


def requeue(message_id, by=""):
    """Try a message again now: a message that is waiting, stuck or held is
    processed again (from scratch, attempts reset); for one already in
    delivery, its deferred deliveries are retried now. Recipients that have a
    delivery are never sent a second copy. Returns a sentence saying what
    was done."""
    who = f" by {by}" if by else ""
    ring_message, ring_deliveries = False, []
    with transaction.atomic():
        message = Message.objects.select_for_update().get(pk=message_id)
        if message.state in (State.RECEIVED, State.PROCESSING, State.HELD):
            message.recipients.filter(state=Recipient.State.HELD).update(state=Recipient.State.PENDING)
            Message.objects.filter(pk=message_id).update(
                state=State.RECEIVED, lease_until=None, process_attempts=0, rung_at=timezone.now()
            )
            text, ring_message = "requeued for processing", True
        else:
            # Not those being sent right now: their sender holds a lease.
            now = timezone.now()
            due = message.deliveries.filter(state__in=OUTSTANDING).filter(
                Q(lease_until__isnull=True) | Q(lease_until__lte=now)
            )
            ring_deliveries = list(due.values_list("pk", flat=True))
            # Due at once for the sweeper too, should our ring find no worker.
            due.filter(state=Delivery.State.DEFERRED).update(next_attempt_at=now)
            long_ago = now - timedelta(seconds=settings.LOCKPOST_RING_GRACE)
            due.filter(state=Delivery.State.PENDING).update(next_attempt_at=long_ago)
            text = f"{len(ring_deliveries)} waiting deliver(y/ies) retried now"
        TrailEntry.objects.create(message=message, stage="admin", text=text + who)
    if ring_message and not doorbell.ring(message_id):
        # No worker in this process (the admin runs in the web app): mark it
        # never rung, so the gateway's next sweep rings it without waiting.
        Message.objects.filter(pk=message_id, state=State.RECEIVED).update(rung_at=None)
    for delivery_id in ring_deliveries:
        doorbell.ring_delivery(delivery_id)
    return text


# --- the sweeper -----------------------------------------------------------


def sweep(now=None, grace=None):
    """Ring again for everything whose ring was lost or whose worker died:

    - `processing` with an expired lease: back to `received`, ring;
    - `received` whose retry time (`lease_until`) has come: ring;
    - `received` rung (or received) more than `grace` seconds ago: ring;
    - deliveries deferred and due, or pending and rung long ago: ring.

    Returns the counts. Ringing twice is harmless: claims are leased."""
    now = now or timezone.now()
    grace = settings.LOCKPOST_RING_GRACE if grace is None else grace
    long_ago = now - timedelta(seconds=grace)
    counts = {"expired": 0, "retry": 0, "lost": 0, "deliveries": 0, "bounces": 0}

    expired = Message.objects.filter(state=State.PROCESSING, lease_until__lte=now)
    counts["expired"] = _ring_each(expired, state=State.RECEIVED)
    retry = Message.objects.filter(state=State.RECEIVED, lease_until__lte=now)
    counts["retry"] = _ring_each(retry)
    lost = Message.objects.annotate(last_ring=Coalesce("rung_at", "received_at")).filter(
        state=State.RECEIVED, lease_until__isnull=True, last_ring__lte=long_ago
    )
    counts["lost"] = _ring_each(lost)

    lease_free = Q(lease_until__isnull=True) | Q(lease_until__lte=now)
    due = Delivery.objects.filter(lease_free).filter(
        Q(state=Delivery.State.DEFERRED, next_attempt_at__lte=now)
        | Q(state=Delivery.State.PENDING, next_attempt_at__lte=long_ago)
    )
    for delivery_id in due.values_list("pk", flat=True):
        doorbell.ring_delivery(delivery_id)
        counts["deliveries"] += 1
    # Finished deliveries whose bounce the spool could not take at the time.
    for delivery_id in deliveries_owing_dsns():
        doorbell.ring_delivery(delivery_id)
        counts["bounces"] += 1
    if any(counts.values()):
        log.info("sweep: %s", ", ".join(f"{n} {what}" for what, n in counts.items() if n))
    return counts


def _ring_each(queryset, **changes):
    """Mark each message rung (only if it is still as the query found it, so
    a worker that took it meanwhile keeps it) and ring."""
    rung = 0
    for message_id in list(queryset.values_list("pk", flat=True)):
        if queryset.filter(pk=message_id).update(lease_until=None, rung_at=timezone.now(), **changes):
            doorbell.ring(message_id)
            rung += 1
    return rung
