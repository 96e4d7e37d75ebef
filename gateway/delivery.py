"""Delivery: sends each Delivery row to the next hop over SMTP (or into the
outbox folder when no next hop is set), retries temporary failures with
backoff, bounces permanent ones with a DSN.

deliver(delivery_id) and deliver_many(delivery_ids) are safe to call any
number of times, from any number of workers: a lease makes one of them the
sender, and a recipient once delivered is never sent again. A batch costs
about as many SQL statements as a single delivery: its rows are claimed,
loaded and recorded together."""

import datetime
import logging
import random
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from gateway import dsn, next_hop, outbox, spool, trail
from gateway.bulk import take, update_each
from gateway.models import Delivery, Message, Recipient, TrailEntry
from gateway.next_hop import NextHopUnavailable, Reply
from gateway.spool_raw import load_raw

log = logging.getLogger(__name__)

# What was sent but not yet recorded is sent again should the process die
# meanwhile: a batch records what it sent at least this often (seconds), so
# a slow next hop costs a transaction a delivery and a fast one a batch.
# A worker batch of 16 outputs to a next hop on the same machine took 40 to
# 65 ms on a busy two-core machine: 0.1 lets it be recorded in one go.
RECORD_EVERY = 0.1
REPLY_CODE = re.compile(r"^([2-5])\d\d ")

# What an attempt reads of the delivery and its message, in one query; the
# content comes too (it is sent right away), see BATCHED_CONTENT_MAX.
LOADED = (
    "message",
    "message__queue_id",
    "message__received_at",
    "message__listener_profile",
    "group_key",
    "mail_from",
    "attempts",
    "lease_until",
    "prefix",
)

# Outputs up to this size come with the query that loads the batch; a larger
# one is loaded on its own just before it is sent, so that a batch never
# holds many large outputs in memory at once.
BATCHED_CONTENT_MAX = 1024 * 1024


@dataclass(eq=False)  # attempts are told apart by identity
class Attempt:
    """One delivery's attempt: whom it was for, what they answered."""

    delivery: Delivery
    everyone: list  # all the delivery's recipients, in RCPT order
    recipients: list  # those it sends to: the ones pending when it began
    replies: dict = field(default_factory=dict)  # address -> Reply
    via: str = "nothing left to send"
    state: str = ""  # the delivery's state once recorded
    # The bytes to send, when the caller holds them and the row is not
    # written yet (see send_unwritten); otherwise they come from the row.
    output: bytes | None = None

    @classmethod
    def of(cls, delivery, everyone):
        return cls(delivery, everyone, [r for r in everyone if r.state == Recipient.State.PENDING])

    def owes_dsn(self):
        """A bounce is owed to the sender: by this attempt, or by an earlier
        one whose bounce the spool could not take."""
        bounced = (r.state == Recipient.State.BOUNCED and not r.dsn_sent for r in self.everyone)
        return bool(self.delivery.mail_from) and any(bounced)


def deliver(delivery_id):
    """One delivery attempt for the row, if it is due and nobody else holds it."""
    deliver_many([delivery_id])


def deliver_many(delivery_ids):
    """One attempt for each of these deliveries that is due and free, sent in
    the order given and recorded in one transaction (one every RECORD_EVERY
    seconds for a slow next hop); then the bounces owed,
    also for those that were not ours to send (finished ones whose bounce
    the spool could not take before). An error sending one delivery leaves
    that one leased and unrecorded (it is tried again once its lease runs
    out) without keeping the others from being recorded; it is raised at the
    end, after the bounces."""
    delivery_ids = list(dict.fromkeys(delivery_ids))
    _attempt(_claim_and_load(delivery_ids, timezone.now()), delivery_ids)


def deliver_taken(deliveries, everyone):
    """One attempt for deliveries their caller has just written already
    leased to itself (gateway.worker, when it sends right away): sent from
    what it holds in memory, with no claim and no second read. `everyone`:
    {delivery id: its Recipient rows}."""
    _attempt([Attempt.of(delivery, everyone.get(delivery.pk, [])) for delivery in deliveries], [])


def send_unwritten(batch, seconds):
    """Sends attempts whose deliveries are not written yet, from their
    `output`, for `seconds` at most (one at least), as a batch is sent.
    Returns those sent; their outcomes are written by the caller, with the
    rows (settle_unwritten): gateway.worker sends a first run's outputs
    before it writes them. The others, and one that raised, the caller
    writes unsent."""
    sent, errors, _ = _send_each(batch, time.monotonic() + seconds)
    for error in errors:
        log.error("sending an output before writing it failed; it is written unsent", exc_info=error)
    return sent


def settle_unwritten(attempt, now):
    """The outcome of an attempt sent by send_unwritten, set in memory on its
    delivery (to be written after this) and on its recipients' rows
    (`attempt.everyone`, `attempt.recipients`: the rows the delivery is
    written with). Returns its trail entry."""
    _apply_replies(attempt, now)
    attempt.state = delivery_state({recipient.state for recipient in attempt.everyone})
    changes = _finished(attempt, now)
    for name, value in changes.items():
        setattr(attempt.delivery, name, value)
    _log_recorded(attempt)
    return _trail_entry(attempt, changes.get("next_attempt_at"))


def _attempt(batch, delivery_ids):
    recorded, errors, waiting = [], [], batch
    while waiting:
        sent, failed, waiting = _send_each(waiting, time.monotonic() + RECORD_EVERY)
        recorded += _record_all(sent, timezone.now())
        errors += failed
    claimed = {attempt.delivery.pk for attempt in batch}
    unclaimed = [pk for pk in delivery_ids if pk not in claimed]
    owing = [attempt.delivery.pk for attempt in recorded if attempt.owes_dsn()]
    if unclaimed:
        owing += _owing_dsns(Recipient.objects.filter(delivery_id__in=unclaimed))
    errors += _send_owed_dsns_each(owing)
    _raise_first(errors)


def claim(delivery_id, now):
    """Takes the lease on a due delivery. Returns the row, or None when it is
    not due, finished, or leased by another worker."""
    sizes = _claim([delivery_id], now)
    rows = _load(sizes) if sizes else []
    return rows[0] if rows else None


def _claim_and_load(delivery_ids, now):
    """The attempts to make: the deliveries claimed, with their recipients,
    in the order of `delivery_ids`. Three statements, whatever their number
    (four when some outputs are too large to come with the others)."""
    if not delivery_ids:
        return []
    sizes = _claim(delivery_ids, now)
    if not sizes:
        return []
    rows = {delivery.pk: delivery for delivery in _load(sizes)}
    everyone = {}
    for recipient in Recipient.objects.filter(delivery_id__in=list(rows)).order_by("delivery_id", "position"):
        everyone.setdefault(recipient.delivery_id, []).append(recipient)
    return [Attempt.of(rows[pk], everyone.get(pk, [])) for pk in delivery_ids if pk in rows]


def _load(sizes):
    """The deliveries whose {id: output size} is given, with their messages'
    fields in LOADED: those of a known size up to BATCHED_CONTENT_MAX with
    their content, the others without (it loads when it is first read)."""
    small = {pk for pk, size in sizes.items() if size is not None and size <= BATCHED_CONTENT_MAX}
    large = sizes.keys() - small
    rows = Delivery.objects.select_related("message")
    loaded = list(rows.filter(pk__in=small).only(*LOADED, "content")) if small else []
    return loaded + (list(rows.filter(pk__in=large).only(*LOADED)) if large else [])


# A delivery that may be claimed: the same conditions for a batch and a row.
CLAIMABLE = "state IN (%s, %s) AND next_attempt_at <= %s AND (lease_until IS NULL OR lease_until < %s)"


def _claim(delivery_ids, now):
    """Takes the lease on those of `delivery_ids` that are due and free (see
    claim), in one statement (bulk.take); returns {id taken: size of its own
    content, None if unknown}."""
    lease = now + datetime.timedelta(seconds=_lease_seconds())
    at = connection.ops.adapt_datetimefield_value
    claimable = [Delivery.State.PENDING.value, Delivery.State.DEFERRED.value, at(now), at(now)]
    taken = take(
        Delivery,
        delivery_ids,
        ("lease_until = %s, attempts = attempts + 1", [at(lease)]),
        (CLAIMABLE, claimable),
        returning=("id", "LENGTH(content)"),
    )
    return dict(taken)


def _send_each(batch, until):
    """Sends each attempt in turn until the monotonic clock passes `until`
    (one at least). Returns (those sent, the errors raised by others, those
    not tried yet): an attempt that raised is left as deliver() always left
    it, leased and unrecorded until its lease runs out. So is one whose lease
    ran out before its turn came (a slow batch): another worker may be
    sending it now, and its outcome could not be recorded anyway."""
    sent, errors = [], []
    for n, attempt in enumerate(batch):
        if n and time.monotonic() > until:
            return sent, errors, batch[n:]
        if not attempt.recipients:
            sent.append(attempt)  # nothing left to send: only recorded
            continue
        if timezone.now() >= attempt.delivery.lease_until:
            log.warning(
                "%s/%s: lease ran out before its turn in the batch; not sent",
                attempt.delivery.message.queue_id,
                attempt.delivery.group_key,
            )
            continue
        try:
            attempt.replies, attempt.via = _send(attempt.delivery, attempt.recipients, attempt.output)
        except Exception as error:
            errors.append(error)
            continue
        sent.append(attempt)
    return sent, errors, []


def _send(delivery, recipients, output=None):
    """Returns ({address: Reply}, a description of where it went)."""
    content = _take_output(delivery) if output is None else output
    addresses = [recipient.address for recipient in recipients]
    # A listener profile may send its output elsewhere (the scanner flows).
    target = settings.LOCKPOST_PROFILE_NEXT_HOPS.get(delivery.message.listener_profile) or settings.LOCKPOST_NEXT_HOP
    if not target:
        return _write_outbox(delivery, addresses, content)
    try:
        result = next_hop.send(
            target,
            delivery.mail_from,
            addresses,
            content,
            helo=settings.LOCKPOST_HOSTNAME,
            starttls=settings.LOCKPOST_NEXT_HOP_STARTTLS,
            user=settings.LOCKPOST_NEXT_HOP_USER,
            password=settings.LOCKPOST_NEXT_HOP_PASSWORD,
            timeout=settings.LOCKPOST_NEXT_HOP_TIMEOUT,
        )
    except NextHopUnavailable as error:
        failure = Reply(0, str(error))
        return {address: failure for address in addresses}, target
    except Exception as error:
        # A bug or an input we did not foresee: retry later like any temporary
        # failure (and bounce at expiry) rather than fail the same way forever.
        log.exception("%s/%s: sending failed", delivery.message.queue_id, delivery.group_key)
        failure = Reply(0, f"internal error while sending: {type(error).__name__}")
        return {address: failure for address in addresses}, target
    return result.replies, f"{target} ({'TLS' if result.tls else 'no TLS'})"


def output_bytes(delivery):
    """The bytes a delivery sends: its prefix, then its own content or the
    spooled message's."""
    prefix, content = Delivery.objects.filter(pk=delivery.pk).values_list("prefix", "content").get()
    return _output(prefix, content, delivery.message_id)


def _take_output(delivery):
    """output_bytes from what the batch loaded; the row lets go of it, so
    that a large output is not held twice while it is sent."""
    # A large content was not loaded with the batch: reading it loads it now.
    prefix, content = delivery.prefix, delivery.content
    delivery.prefix = delivery.content = None
    return _output(prefix, content, delivery.message_id)


def _output(prefix, content, message_id):
    if not content:
        # An output that shares the message's bytes is stored without a copy.
        content = load_raw(message_id)
    # PostgreSQL drivers may hand back a memoryview; bytes() of bytes is free.
    return bytes(prefix) + bytes(content) if prefix else bytes(content)


def _write_outbox(delivery, addresses, content):
    name = outbox.file_name(delivery.message.queue_id, delivery.group_key)
    try:
        path = outbox.write(settings.LOCKPOST_OUTBOX_DIR, name, delivery.mail_from, addresses, content)
    except OSError as error:
        failure = Reply(0, f"cannot write the outbox file: {error}")
        return {address: failure for address in addresses}, "outbox"
    accepted = Reply(250, f"2.0.0 written to {path.name}")
    return {address: accepted for address in addresses}, f"outbox {path.parent}"


def record(delivery, recipients, replies, via, now):
    """Stores the attempt's outcome: recipients, the delivery, the trail and
    the message's state, in one transaction."""
    _record_all([Attempt(delivery, everyone=recipients, recipients=recipients, replies=replies, via=via)], now)


def _record_all(batch, now):
    """Stores the outcomes of a batch of attempts in one transaction, with a
    number of statements that does not grow with the batch. An attempt whose
    lease ran out meanwhile (another worker has the row now) records nothing;
    the others are recorded all the same. Returns the attempts recorded."""
    if not batch:
        return []
    for attempt in batch:
        _apply_replies(attempt, now)
    with transaction.atomic():
        recorded = _record_locked(batch, now)
    for attempt in batch:
        delivery = attempt.delivery
        if attempt not in recorded:
            log.warning(
                "%s/%s: lease ran out during the attempt; its outcome is not recorded",
                delivery.message.queue_id,
                delivery.group_key,
            )
            continue
        _log_recorded(attempt)
    return recorded


def _log_recorded(attempt):
    delivery = attempt.delivery
    log.info(
        "%s/%s attempt %d via %s: %s",
        delivery.message.queue_id,
        delivery.group_key,
        delivery.attempts,
        attempt.via,
        attempt.state,
    )


def _record_locked(batch, now):
    """Inside the transaction: locks, fences and writes. Returns the attempts
    recorded."""
    message_ids = sorted({attempt.delivery.message_id for attempt in batch})
    message_states = _lock_messages(message_ids)
    recorded = _still_leased(batch)
    by_delivery, by_message = _recipient_states(message_ids, recorded)
    finished = {}
    for attempt in recorded:
        attempt.state = delivery_state(set(by_delivery[attempt.delivery.pk]))
        finished[attempt.delivery.pk] = _finished(attempt, now)
    update_each(Delivery.objects.all(), finished)
    recipients = [recipient for attempt in recorded for recipient in attempt.recipients]
    update_each(Recipient.objects.all(), {r.pk: {"state": r.state, "reply": r.reply} for r in recipients})
    trail.write(_trail_entry(attempt, finished[attempt.delivery.pk].get("next_attempt_at")) for attempt in recorded)
    touched = {attempt.delivery.message_id for attempt in recorded}
    update_each(Message.objects.all(), _message_changes(message_states, by_message, touched, now))
    return recorded


def _lock_messages(message_ids):
    """Locks the messages, in id order: the order gateway/worker.py and every
    other batch lock in, so that no two wait for each other in a circle.
    Returns {id: state}. Without the lock, two deliveries of one message
    finishing at once would each miss the other's recipients and both leave
    it "delivering"."""
    locked = Message.objects.select_for_update().filter(pk__in=message_ids).order_by("pk")
    return dict(locked.values_list("pk", "state"))


def _recipient_states(message_ids, recorded):
    """The states of every recipient of the messages, by delivery and by
    message ({id: [state]}), the recorded attempts' new states standing in
    for those they write. Read after the messages are locked, by a statement
    of its own so that it sees what the lock waited for."""
    ours = {recipient.pk: recipient.state for attempt in recorded for recipient in attempt.recipients}
    rows = Recipient.objects.filter(message_id__in=message_ids).order_by()
    by_delivery, by_message = defaultdict(list), defaultdict(list)
    for pk, message_id, delivery_id, state in rows.values_list("pk", "message_id", "delivery_id", "state"):
        by_delivery[delivery_id].append(ours.get(pk, state))
        by_message[message_id].append(ours.get(pk, state))
    return by_delivery, by_message


def _still_leased(batch):
    """Those of the batch whose row still holds our lease; the rows are locked
    (in id order), so that it stays so until we commit. Our lease's expiry is
    the fencing token: if it changed, the row is another worker's now and
    nothing of ours may be written."""
    pks = sorted(attempt.delivery.pk for attempt in batch)
    rows = Delivery.objects.select_for_update().filter(pk__in=pks).order_by("pk")
    leases = dict(rows.values_list("pk", "lease_until"))
    return [
        attempt
        for attempt in batch
        if attempt.delivery.pk in leases and leases[attempt.delivery.pk] == attempt.delivery.lease_until
    ]


def _finished(attempt, now):
    """The delivery's row once the attempt is recorded."""
    delivery = attempt.delivery
    changes = {"state": attempt.state, "lease_until": None}
    if attempt.state == Delivery.State.DEFERRED:
        changes["next_attempt_at"] = min(now + backoff(delivery.attempts), _expires_at(delivery.message))
    else:
        changes["finished_at"] = now
    if attempt.recipients:
        changes["last_reply"] = "; ".join(f"{r.address}: {r.reply}" for r in attempt.recipients)
    return changes


def _trail_entry(attempt, next_attempt_at):
    delivery, recipients = attempt.delivery, attempt.recipients
    return trail.Entry(
        message_id=delivery.message_id,
        stage="delivery",
        text=_trail_text(delivery, recipients, attempt.via, attempt.state, next_attempt_at),
        data={
            "delivery": delivery.group_key,
            "attempt": delivery.attempts,
            "via": attempt.via,
            "replies": {r.address: r.reply for r in recipients},
            "state": attempt.state,
        },
    )


def _message_changes(current, by_message, message_ids, now):
    """{message id: its new state} for those of `message_ids` whose state
    follows from their recipients' (`by_message`) and has changed; not for
    messages still being received or processed (or that have no recipients)."""
    changes = {}
    for message_id in message_ids:
        state = message_state(by_message[message_id])
        was = current.get(message_id)
        if state is None or state == was or was in (None, Message.State.RECEIVED, Message.State.PROCESSING):
            continue
        changes[message_id] = {"state": state, "updated_at": now}
    return changes


def _apply_replies(attempt, now):
    message = attempt.delivery.message
    expires_at = _expires_at(message)
    for recipient in attempt.recipients:
        _apply_reply(recipient, attempt.replies[recipient.address], message, now, expires_at)


def _expires_at(message):
    return message.received_at + datetime.timedelta(seconds=settings.LOCKPOST_MAX_QUEUE_AGE)


def _apply_reply(recipient, reply, message, now, expires_at):
    """The recipient's new state and reply, in memory."""
    recipient.reply = reply_text(reply)
    if reply.accepted:
        recipient.state = Recipient.State.DELIVERED
    elif reply.permanent:
        recipient.state = Recipient.State.BOUNCED
    elif now >= expires_at:
        recipient.state = Recipient.State.BOUNCED
        recipient.reply = f"delivery time expired ({_age(message, now)}); last reply: {reply_text(reply)}"


def reply_text(reply):
    # Code 0 marks our own words (no SMTP reply was had): show them plainly.
    return reply.text if reply.code == 0 else str(reply)


def backoff(attempts):
    """Seconds until the next try: the first delay doubling per attempt up to
    the maximum, with a little jitter so that retries do not march in step."""
    delay = min(settings.LOCKPOST_RETRY_FIRST * 2 ** max(attempts - 1, 0), settings.LOCKPOST_RETRY_MAX)
    return datetime.timedelta(seconds=delay * random.uniform(0.9, 1.1))


def delivery_state(recipient_states):
    recipient_states = recipient_states - {Recipient.State.HELD}
    if Recipient.State.PENDING in recipient_states:
        return Delivery.State.DEFERRED
    if recipient_states == {Recipient.State.BOUNCED}:
        return Delivery.State.BOUNCED
    if Recipient.State.BOUNCED in recipient_states:
        return Delivery.State.PARTLY_DELIVERED
    return Delivery.State.DELIVERED


def message_state(recipient_states):
    """The state a message is in once its recipients are in these states;
    None when it has none."""
    recipient_states = set(recipient_states)
    if not recipient_states:
        return None
    if Recipient.State.PENDING in recipient_states:
        return Message.State.DELIVERING
    if recipient_states == {Recipient.State.DELIVERED}:
        return Message.State.DELIVERED
    if Recipient.State.DELIVERED in recipient_states:
        return Message.State.PARTLY_DELIVERED
    if Recipient.State.HELD in recipient_states:
        # Nothing delivered, but some still await a decision.
        return Message.State.HELD
    return Message.State.BOUNCED


def send_owed_dsns(delivery_id):
    """Queues one DSN for the delivery's bounced recipients that have not had
    one. Never to a null sender; never twice for a recipient."""
    delivery = Delivery.objects.select_related("message").defer("content").filter(pk=delivery_id).first()
    if delivery is None or not delivery.mail_from:
        return
    owed = list(delivery.recipients.filter(state=Recipient.State.BOUNCED, dsn_sent=False).order_by("position"))
    if not owed:
        return
    now = timezone.now()
    with transaction.atomic():
        marked = Recipient.objects.filter(pk__in=[r.pk for r in owed], dsn_sent=False).update(dsn_sent=True)
        if marked != len(owed):
            # Another worker is sending this bounce; let it.
            transaction.set_rollback(True)
            return
        message = delivery.message
        report = dsn.build_dsn(
            original_sender=delivery.mail_from,
            failures=[_failure(recipient, now) for recipient in owed],
            original_raw=bytes(message.raw.data),
            arrival_date=message.received_at,
            reporting_mta=settings.LOCKPOST_HOSTNAME,
            postmaster=settings.LOCKPOST_POSTMASTER,
            queue_id=message.queue_id,
        )
        bounce = spool.store("", [delivery.mail_from], report, listener_profile=spool.SYSTEM_PROFILE)
        TrailEntry.objects.create(
            message=message,
            stage="delivery",
            text=f"bounce {bounce.queue_id} queued to <{delivery.mail_from}> for " + ", ".join(r.address for r in owed),
            data={"dsn": bounce.queue_id, "recipients": [r.address for r in owed]},
        )
    log.info("%s: bounce %s queued to the sender", delivery.message.queue_id, bounce.queue_id)


def deliveries_owing_dsns():
    """Ids of finished deliveries whose bounce could not be queued yet (the
    spool failed at the time): deliver() on them queues it now."""
    return _owing_dsns(Recipient.objects.filter(delivery__isnull=False))


def _owing_dsns(recipients):
    """Ids of the deliveries of these recipients that owe their sender a bounce."""
    owing = recipients.filter(state=Recipient.State.BOUNCED, dsn_sent=False).exclude(delivery__mail_from="")
    return list(owing.order_by().values_list("delivery_id", flat=True).distinct())


def _send_owed_dsns_each(delivery_ids):
    """send_owed_dsns for each; returns the errors, so that one failing (the
    spool, most likely) does not keep the others' bounces back."""
    errors = []
    for delivery_id in delivery_ids:
        try:
            send_owed_dsns(delivery_id)
        except Exception as error:
            errors.append(error)
    return errors


def _raise_first(errors):
    """Raises the first error (the caller logs it); logs the others."""
    for error in errors[1:]:
        log.error("delivery batch: a further error", exc_info=error)
    if errors:
        raise errors[0]


def _next_hop_name():
    return next_hop.parse_address(settings.LOCKPOST_NEXT_HOP)[0] if settings.LOCKPOST_NEXT_HOP else ""


def _failure(recipient, now):
    code = REPLY_CODE.match(recipient.reply)
    if code and code.group(1) == "5":
        reply_code, _, text = recipient.reply.partition(" ")
        return dsn.Failure(
            recipient=recipient.address,
            status=dsn.status_of(int(reply_code), text),
            diagnostic=recipient.reply,
            # Refused by the pipeline itself (never sent: no attempt): no remote MTA said it.
            remote_mta=_next_hop_name() if recipient.delivery.attempts else "",
            last_attempt=now,
        )
    # Gave up on a temporary failure: "delivery time expired".
    return dsn.Failure(recipient=recipient.address, status="5.4.7", diagnostic=recipient.reply, last_attempt=now)


def _age(message, now):
    hours = (now - message.received_at).total_seconds() / 3600
    return f"queued for {hours / 24:.1f} days" if hours >= 48 else f"queued for {hours:.1f} hours"


def _lease_seconds():
    # Long enough for a large message over a slow link; a worker that dies
    # mid-send leaves the row to be claimed again once it runs out.
    return settings.LOCKPOST_DELIVERY_LEASE


def _trail_text(delivery, recipients, via, state, next_attempt_at):
    if not recipients:
        return f"{delivery.group_key}: no pending recipients; {state}"
    replies = "; ".join(f"<{r.address}> {r.reply}" for r in recipients)
    text = f"{delivery.group_key} attempt {delivery.attempts} via {via}: {replies}; {state}"
    if next_attempt_at is not None:
        text += f", next try {next_attempt_at:%Y-%m-%d %H:%M:%S} UTC"
    return text
