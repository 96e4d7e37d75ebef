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
- The embedded worker sends a first run's outputs before it writes them,
  and writes each with its outcome (delivered, deferred with its bytes for
  the retry, or bounced) in that one transaction. A crash before the commit
  sends them again once the message's lease runs out: the same one
  duplicate a crash between a send and its record gives, bounded the same
  way (delivery.RECORD_EVERY).
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
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from ca import remember
from gateway import doorbell, pipeline, trail
from gateway.bulk import save_fields, take
from gateway.delivery import (
    RECORD_EVERY,
    Attempt,
    deliver_taken,
    deliveries_owing_dsns,
    message_state,
    send_owed_dsns,
    send_unwritten,
    settle_unwritten,
)
from gateway.models import Delivery, Message, Recipient, TrailEntry
from gateway.policy import epoch as policy_epoch
from gateway.policy.cache import EPOCH_KEY
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
    return process_many([message_id]).get(message_id)


def process_many(message_ids, send_now=False):
    """Process those of the messages that are free to take, together: one
    claim, one lease keeper and one transaction for all their results, so that
    a busy gateway pays for its SQL per batch rather than per message. Returns
    {message id: new state (None if its lease was lost)} for the ones claimed.

    `send_now`: the outputs are sent by this call instead of being rung
    for. Those of a message's first run are sent before they are written,
    and written with their outcome (see _send_first); the others right after
    they are written (leased to it as they are written: no claim, nothing
    read again)."""
    leases = claim_many(message_ids)
    if not leases:
        return {}
    messages = Message.objects.in_bulk(list(leases))
    open_recipients, first_runs = _open_recipients(list(leases))
    outcomes, contexts = {}, {}
    keeper = LeaseKeeper(leases)
    with keeper:
        # One policy for the batch: the epoch is read once, as it was once a message.
        epoch = policy_epoch.current()
        for message_id in sorted(leases):
            outcomes[message_id] = outcome = _load(messages[message_id], open_recipients.get(message_id, []))
            if outcome.kind == "loaded":
                outcome.context.decided[EPOCH_KEY] = epoch
                contexts[message_id] = outcome.context
        pipeline.prepare(list(contexts.values()))
        with remember.remembering():  # each address's certificates and keys read once a batch
            for message_id, context in contexts.items():
                outcomes[message_id] = _run_pipeline(message_id, context)
        done = {i: outcome.context for i, outcome in outcomes.items() if outcome.kind == "done"}
        # Sent while the keeper still holds the messages.
        sent = _send_first({i: done[i] for i in done if i in first_runs}, messages) if send_now else {}
    # The keeper has stopped: the leases it leaves are final and fence every write below.
    leases = keeper.leases
    states = {message_id: None for message_id in outcomes if message_id not in leases}
    for message_id in states:
        _lost(message_id, sent)
    finished = {i: context for i, context in done.items() if i in leases}
    states.update(_finish_all(finished, leases, messages, send_now, sent))
    for message_id, outcome in outcomes.items():
        if message_id not in leases or outcome.kind == "done":
            continue
        if outcome.kind == "hold":
            states[message_id] = _hold(message_id, leases[message_id], outcome.trail, outcome.reason)
        else:
            attempts = messages[message_id].process_attempts
            states[message_id] = _fail(message_id, leases[message_id], outcome.trail, outcome.error, attempts)
    return states


class Outcome:
    """Where one message of a batch stands: "loaded" (its context built),
    "done" (the pipeline ran through), "hold" (with a reason) or "fail"
    (with the error)."""

    def __init__(self, kind, context=None, *, reason="", error=None):
        self.kind, self.context, self.reason, self.error = kind, context, reason, error

    @property
    def trail(self):
        return self.context.trail if self.context is not None else []


def _load(message, recipients):
    """Outcome "loaded" with the message's context, or why it is not run."""
    if message.process_attempts > settings.LOCKPOST_PROCESS_ATTEMPTS:
        # Claimed again and again without finishing: something kills the
        # worker on this message. Stop before it kills the next one.
        return Outcome("hold", reason=f"held after {message.process_attempts - 1} unfinished attempts")
    try:
        return Outcome("loaded", load_context(message, recipients))
    except Exception as error:
        log.exception("message %s: loading it failed", message.pk)
        return Outcome("fail", error=error)


def _run_pipeline(message_id, context):
    try:
        pipeline.run(context)
        return Outcome("done", context)
    except pipeline.HoldMessage as hold:
        return Outcome("hold", context, reason=f"held: {hold}")
    except Exception as error:
        log.exception("message %s: processing failed", message_id)
        return Outcome("fail", context, error=error)


def waiting(limit, now=None):
    """Ids of up to `limit` messages free to be processed now, oldest first:
    what an idle worker takes unasked (a claim still decides who has them)."""
    now = now or timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lte=now)
    ready = Message.objects.filter(free, state=State.RECEIVED).order_by("pk")
    return list(ready.values_list("pk", flat=True)[:limit])


def claim(message_id, now=None):
    """Take the message for processing. Returns the lease's expiry (the
    fencing token), or None when it is not free to take."""
    return claim_many([message_id], now).get(message_id)


def claim_many(message_ids, now=None):
    """Take those of the messages that are free for processing, in one
    statement (bulk.take). Returns {message id: the lease's expiry (the
    fencing token)}."""
    now = now or timezone.now()
    until = now + timedelta(seconds=settings.LOCKPOST_PROCESS_LEASE)
    at = connection.ops.adapt_datetimefield_value
    lease = "state = %s, lease_until = %s, process_attempts = process_attempts + 1, updated_at = %s"
    free = "state IN (%s, %s) AND (lease_until IS NULL OR lease_until <= %s)"
    taken = take(
        Message,
        message_ids,
        (lease, [State.PROCESSING, at(until), at(now)]),
        (free, [State.RECEIVED, State.PROCESSING, at(now)]),
    )
    return {message_id: until for (message_id,) in taken}


def _open_recipients(message_ids):
    """({message id: its recipients still to be given a delivery, in order},
    the ids of the messages none of whose recipients has a delivery yet)."""
    waiting = (Recipient.State.PENDING, Recipient.State.HELD)
    rows = Recipient.objects.filter(message_id__in=message_ids).order_by("message_id", "position")
    found, first_runs = {}, set(message_ids)
    for message_id, address, position, delivery_id, state in rows.values_list(
        "message_id", "address", "position", "delivery_id", "state"
    ):
        if delivery_id is not None:
            first_runs.discard(message_id)
        elif state in waiting:
            found.setdefault(message_id, []).append(pipeline.RecipientInfo(address=address, position=position))
    return found, first_runs


def _send_first(contexts, messages):
    """Sends the outputs of messages run for the first time before they are
    written, so that each attempt's outcome is written with its delivery, in
    the batch's one transaction, rather than in one of its own afterwards.
    Sends for RECORD_EVERY seconds at most, as a delivery batch does: what a
    crash before the commit would send again (the message is processed again
    once its lease runs out) stays as little as what a crash between sending
    and recording sends again. The outputs not sent by then are written leased
    and sent after the commit. Returns {message id: {group key: Attempt}}."""
    now = timezone.now()
    lease = now + timedelta(seconds=settings.LOCKPOST_DELIVERY_LEASE)
    batch = []
    for message_id in sorted(contexts):
        context = contexts[message_id]
        for group in context.groups:
            recipients = [
                Recipient(message_id=message_id, address=info.address, position=info.position)
                for info in map(context.recipient, sorted(group.positions))
                if not info.refusal
            ]
            if not recipients:
                continue  # refused whole: a bounce, nothing to send
            delivery = _new_delivery(messages[message_id], group.key, group, context)
            delivery.lease_until, delivery.attempts = lease, 1
            batch.append(Attempt(delivery, recipients, recipients, output=context.content_for(group)))
    found = {}
    for attempt in send_unwritten(batch, RECORD_EVERY):
        found.setdefault(attempt.delivery.message_id, {})[attempt.delivery.group_key] = attempt
    return found


def load_context(message, recipients):
    """A pipeline.Context built from the spool."""
    # The spool's own reader: the ORM would hold the bytes several times over.
    raw = load_raw(message.pk)
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
    """Renews the leases of a batch of messages from a side thread while the
    pipeline runs, so a long pipeline keeps its messages and a dead one loses
    them soon. `leases` ends up holding only those still ours."""

    def __init__(self, leases):
        self.leases = dict(leases)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{min(leases)}", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self):
        interval = settings.LOCKPOST_PROCESS_LEASE / 3
        try:
            while not self._stop.wait(interval) and self.leases:
                self.renew()
        finally:
            connection.close()

    def renew(self):
        # A batch is claimed with one expiry and renewed to one: one statement.
        [until] = set(self.leases.values())
        renewed_until = timezone.now() + timedelta(seconds=settings.LOCKPOST_PROCESS_LEASE)
        ours = Message.objects.filter(pk__in=list(self.leases), state=State.PROCESSING, lease_until=until)
        try:
            renewed = ours.update(lease_until=renewed_until)
            if renewed != len(self.leases):
                kept = set(
                    Message.objects.filter(pk__in=list(self.leases), lease_until=renewed_until).values_list(
                        "pk", flat=True
                    )
                )
            else:
                kept = set(self.leases)
        except Exception:
            # A busy database is no reason to give up the messages; try again next time.
            log.warning("messages %s: could not renew leases", sorted(self.leases), exc_info=True)
            close_old_connections()
            return
        self.leases = dict.fromkeys(kept, renewed_until)


def _finish_all(contexts, leases, messages, send_now, sent):
    """Writes the results of these messages in one transaction; should that
    fail, each on its own, so that one message's trouble holds back no other
    (and one that fails alone is retried later). `sent`: the attempts made
    before writing (_send_first). Returns {message id: new state}."""
    if len(contexts) > 1:
        try:
            return _finish(contexts, leases, send_now, sent)
        except Exception:
            log.exception("writing the results of %d messages together failed; writing each alone", len(contexts))
    states = {}
    for message_id, context in contexts.items():
        try:
            states.update(_finish({message_id: context}, leases, send_now, sent))
        except Exception as error:
            log.exception("message %s: writing its results failed", message_id)
            if sent.get(message_id):
                log.warning("message %s: its outputs already sent will be sent again", message_id)
            attempts = messages[message_id].process_attempts
            states[message_id] = _fail(message_id, leases[message_id], context.trail, error, attempts)
    return states


def _finish(contexts, leases, send_now, sent):
    """One transaction: the deliveries (with the outcomes of those `sent`
    already), recipient links, trail and state of each message whose lease is
    still ours (the lease's expiry is the fencing token). Returns {message id:
    new state, or None for a lease lost meanwhile}."""
    states = dict.fromkeys(contexts)
    now = timezone.now()
    with transaction.atomic():
        # In id order, as every batch locks: two batches never wait on each other in a circle.
        locked = Message.objects.select_for_update().filter(pk__in=list(contexts)).order_by("pk")
        messages = [m for m in locked if m.state == State.PROCESSING and m.lease_until == leases.get(m.pk)]
        # Read after the lock, so that no other writer's rows are missed.
        rows = _recipient_rows([m.pk for m in messages])
        written = _write_deliveries(messages, rows, contexts, now if send_now else None, sent)
        _write_recipients(rows, written, contexts)
        notes, attempts = [], []
        for message in messages:
            deliveries, new, _, settled = written[message.pk]
            done = pipeline.TrailNote("worker", f"pipeline done: {len(new)} new output(s)")
            notes += [(message, note) for note in [*contexts[message.pk].trail, done]]
            attempts += settled
            if any(d.state in OUTSTANDING for d in deliveries):
                message.state = State.DELIVERING
            else:
                message.state = message_state(r.state for r in rows[message.pk].values()) or State.DELIVERED
            message.lease_until, message.updated_at = None, now
        _write_trail(notes, [entry for _, entry in attempts])
        save_fields(Message.objects.all(), messages, ["state", "lease_until", "updated_at"])
    for message_id in set(contexts) - {m.pk for m in messages}:
        _lost(message_id, sent)
    taken = []
    for message in messages:
        states[message.pk] = message.state
        deliveries, new, _, _ = written[message.pk]
        taken += _hand_on(message.pk, deliveries, new)
    _bounce_owed([attempt for attempt, _ in attempts if attempt.owes_dsn()])
    if taken:
        _send_taken(taken, rows)
    return states


def _lost(message_id, sent):
    log.warning("message %s: lease lost to another worker; leaving it to them", message_id)
    if sent.get(message_id):
        log.warning("message %s: outputs sent before the lease was lost will be sent again", message_id)


def _bounce_owed(attempts):
    """After the commit: the bounces owed for outputs sent before they were
    written. One the spool cannot take now stays owed (the sweeper queues it)."""
    for attempt in attempts:
        try:
            send_owed_dsns(attempt.delivery.pk)
        except Exception:
            log.exception("delivery %s: the bounce is not queued yet", attempt.delivery.pk)


def _send_taken(deliveries, rows):
    """Send the deliveries _finish wrote leased to us. Whatever goes wrong,
    their messages' results stay written: a delivery left unsent is tried
    again once its lease runs out."""
    everyone = {}
    for message_rows in rows.values():
        for row in sorted(message_rows.values(), key=lambda r: r.position):
            everyone.setdefault(row.delivery_id, []).append(row)
    try:
        deliver_taken(deliveries, everyone)
    except Exception:
        log.exception(
            "sending %d output(s) right after processing failed; retried when their lease runs out", len(deliveries)
        )


def _hand_on(message_id, deliveries, new):
    """After the commit: ring for what is to be sent, unless it was made now
    leased to us (returned, for sending now; an older one may be another
    worker's to send); queue the bounce for what the pipeline refused."""
    taken = [d for d in new if d.state == Delivery.State.PENDING and d.lease_until is not None]
    for delivery in deliveries:
        if delivery.state == Delivery.State.PENDING and delivery not in taken:
            doorbell.ring_delivery(delivery.pk)
        elif delivery.state == Delivery.State.BOUNCED and delivery.attempts == 0:
            # Not queued now (spool failing): still owed, delivery.deliveries_owing_dsns lists it.
            try:
                send_owed_dsns(delivery.pk)
            except Exception:
                log.exception("message %s: the bounce for refused recipients is not queued yet", message_id)
    return taken


def _recipient_rows(message_ids):
    """{message id: {position: Recipient}} for every recipient of these messages."""
    rows = {message_id: {} for message_id in message_ids}
    for row in Recipient.objects.filter(message_id__in=message_ids):
        rows[row.message_id][row.position] = row
    return rows


def _write_deliveries(messages, rows, contexts, taken_at, sent):
    """One Delivery per group, found again by its key. Recipients that already
    have a delivery (an earlier run, a released hold) get no second one.
    Links the rows in `rows` in memory (_write_recipients saves them).
    Returns {message id: (every delivery of the message, those made now,
    the positions linked now, [(Attempt, trail entry)] of the outputs
    `sent` before)}. With `taken_at`, new deliveries to be sent are written
    leased to us from then, as a claim would leave them; one `sent` already
    is written with its outcome."""
    plans = {
        message.pk: _plan_deliveries(message, rows[message.pk], contexts[message.pk], sent.get(message.pk, {}))
        for message in messages
    }
    if taken_at is not None:
        lease = taken_at + timedelta(seconds=settings.LOCKPOST_DELIVERY_LEASE)
        for delivery in (d for plan in plans.values() for d in plan.new if d.state == Delivery.State.PENDING):
            delivery.lease_until, delivery.attempts = lease, 1
    settled = {}
    for message_id, plan in plans.items():
        for _, positions, refused in plan.links:
            for position in positions:
                row = rows[message_id].get(position)
                if row is not None:
                    row.state = Recipient.State.BOUNCED if position in refused else Recipient.State.PENDING
                    row.reply = refused.get(position, row.reply)
        settled[message_id] = [_settle(early, positions, rows[message_id], taken_at) for early, positions in plan.sent]
    # One INSERT for all; the links below need the ids it gives.
    Delivery.objects.bulk_create([delivery for plan in plans.values() for delivery in plan.new])
    written = {}
    for message_id, plan in plans.items():
        linked = set()
        for delivery, positions, _ in plan.links:
            for position in positions:
                row = rows[message_id].get(position)
                if row is not None:
                    row.delivery = delivery
                    linked.add(position)
        written[message_id] = (plan.deliveries, plan.new, linked, settled[message_id])
    return written


def _settle(early, positions, rows, now):
    """(the attempt, its trail entry) for an output sent before it is written
    to the recipients at `positions` (those refused too): its outcome set on
    its delivery and on the recipients' rows."""
    sent_to = [rows[recipient.position] for recipient in early.recipients]
    attempt = Attempt(early.delivery, [rows[p] for p in positions], sent_to, early.replies, early.via)
    return attempt, settle_unwritten(attempt, now)


class DeliveryPlan:
    def __init__(self, deliveries, new, links, sent=()):
        self.deliveries, self.new, self.links, self.sent = deliveries, new, links, list(sent)


def _plan_deliveries(message, rows, context, sent):
    taken = {position for position, row in rows.items() if row.delivery_id is not None}
    # A delivery is written in the same transaction as the links to it, and
    # links are never removed: with no recipient linked there is no delivery
    # to find again, so a first run need not look.
    fields = ("id", "message", "group_key", "state", "attempts")
    existing = {d.group_key: d for d in message.deliveries.only(*fields)} if taken else {}
    new, links, used = [], [], []
    for group in context.groups:
        positions = sorted(p for p in group.positions if p not in taken)
        if not positions:
            continue
        key = group.key if positions == sorted(group.positions) else pipeline.group_key(group.treatment, positions)
        refused = {p: context.recipient(p).refusal for p in positions if context.recipient(p).refusal}
        delivery = existing.get(key)
        early = sent.get(key)
        if (
            early is not None
            and delivery is None
            and [r.position for r in early.recipients] == [p for p in positions if p not in refused]
        ):
            # Sent already (_send_first): written as it went, with its outcome.
            delivery = existing[key] = early.delivery
            used.append((early, positions))
            new.append(delivery)
        elif delivery is None:
            delivery = existing[key] = _new_delivery(message, key, group, context)
            if refused and len(refused) == len(positions):
                # Refused whole by a handler: never sent; delivery's DSN path
                # (send_owed_dsns) tells the sender.
                delivery.state, delivery.finished_at = Delivery.State.BOUNCED, timezone.now()
                delivery.last_reply = "; ".join(f"{context.recipient(p).address}: {r}" for p, r in refused.items())
            new.append(delivery)
        links.append((delivery, positions, refused))
        taken.update(positions)
    for key in sent.keys() - {early.delivery.group_key for early, _ in used}:
        # Only if another writer linked its recipients meanwhile, which our lease forbids.
        log.error("message %s: output %s was sent, but its recipients have a delivery now", message.pk, key)
    return DeliveryPlan(list(existing.values()), new, links, used)


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


def _write_recipients(rows, written, contexts):
    """Saves the links made by _write_deliveries and the pipeline's direction
    and Bcc, each row once (one statement for a batch of first runs)."""
    to_link, classified = [], []
    for message_id, message_rows in rows.items():
        infos = {info.position: info for info in contexts[message_id].recipients}
        linked = written[message_id][2]
        for position, row in message_rows.items():
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
    save_fields(
        Recipient.objects.filter(delivery__isnull=True), to_link, ["delivery_id", "state", "reply", "direction", "bcc"]
    )
    # Direction and Bcc only: a row with a delivery may be written meanwhile
    # by its sender (state, reply), which must not be undone here.
    save_fields(Recipient.objects.all(), classified, ["direction", "bcc"])


def _write_trail(notes, entries=()):
    """`notes`: (message, pipeline.TrailNote) pairs, and `entries` (trail.Entry),
    written in one INSERT."""
    trail.write([*(trail.Entry(message.pk, n.stage, n.text, _plain(n.data)) for message, n in notes), *entries])


def _plain(data):
    """Trail data is JSON; a handler may note anything, so make it so."""
    return {
        str(k): v if isinstance(v, str | int | float | bool | type(None) | list | dict) else str(v)
        for k, v in data.items()
    }


def _locked_message(message_id, lease):
    """Inside a transaction: the message, if our lease still holds it."""
    message = Message.objects.select_for_update().get(pk=message_id)
    if lease is None or message.state != State.PROCESSING or message.lease_until != lease:
        raise LeaseLost(message_id)
    return message


def _hold(message_id, lease, notes, reason):
    try:
        with transaction.atomic():
            message = _locked_message(message_id, lease)
            _write_trail((message, note) for note in [*notes, pipeline.TrailNote("worker", reason)])
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
            again = pipeline.TrailNote("worker", f"will try again in {delay:g}s")
            _write_trail((message, note) for note in [*notes, failure, again])
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
