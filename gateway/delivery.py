"""Delivery: sends each Delivery row to the next hop over SMTP (or into the
outbox folder when no next hop is set), retries temporary failures with
backoff, bounces permanent ones with a DSN.

deliver(delivery_id) is safe to call any number of times, from any number of
workers: a lease makes one of them the sender, and a recipient once
delivered is never sent again."""

import datetime
import logging
import random
import re

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from gateway import dsn, next_hop, outbox, spool
from gateway.bulk import update_alike
from gateway.models import Delivery, Message, Recipient, TrailEntry
from gateway.next_hop import NextHopUnavailable, Reply
from gateway.spool_raw import load_raw

log = logging.getLogger(__name__)

# Long enough for a large message over a slow link; a worker that dies
# mid-send leaves the row to be claimed again once it runs out.
REPLY_CODE = re.compile(r"^([2-5])\d\d ")


class LeaseLost(Exception):
    """Another worker took the delivery over after our lease ran out."""


def deliver(delivery_id):
    """One delivery attempt for the row, if it is due and nobody else holds it."""
    delivery = claim(delivery_id, timezone.now())
    if delivery is None:
        # Not ours to send; but a bounce that could not be queued last time is owed still.
        send_owed_dsns(delivery_id)
        return
    everyone = list(delivery.recipients.order_by("position"))
    recipients = [r for r in everyone if r.state == Recipient.State.PENDING]
    if recipients:
        replies, via = _send(delivery, recipients)
    else:
        replies, via = {}, "nothing left to send"
    record(delivery, recipients, replies, via, timezone.now())
    # Owed by this attempt, or by an earlier one whose bounce the spool could
    # not take: only then is there a bounce to look for.
    if delivery.mail_from and any(r.state == Recipient.State.BOUNCED and not r.dsn_sent for r in everyone):
        send_owed_dsns(delivery_id)


# What an attempt reads of the delivery and its message, content included
# (it is sent right away): one query.
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
    "content",
)


def claim(delivery_id, now):
    """Takes the lease on a due delivery. Returns the row, or None when it is
    not due, finished, or leased by another worker."""
    due = Q(pk=delivery_id, state__in=[Delivery.State.PENDING, Delivery.State.DEFERRED], next_attempt_at__lte=now)
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    lease = {"lease_until": now + datetime.timedelta(seconds=_lease_seconds()), "attempts": F("attempts") + 1}
    # One conditional update decides: only one writer can move the lease from
    # free to taken (PostgreSQL makes a second one wait for the first's row
    # lock, then checks the condition again on the row as the first left it).
    if not Delivery.objects.filter(due & free).update(**lease):
        return None
    return Delivery.objects.select_related("message").only(*LOADED).get(pk=delivery_id)


def _send(delivery, recipients):
    """Returns ({address: Reply}, a description of where it went)."""
    content = _take_output(delivery)
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
    """output_bytes from what claim loaded; the row lets go of it, so that a
    large output is not held twice while it is sent."""
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
    message = delivery.message
    expires_at = message.received_at + datetime.timedelta(seconds=settings.LOCKPOST_MAX_QUEUE_AGE)
    try:
        with transaction.atomic():
            state = _record(delivery, recipients, replies, via, now, expires_at)
    except LeaseLost:
        log.warning(
            "%s/%s: lease ran out during the attempt; its outcome is not recorded", message.queue_id, delivery.group_key
        )
        return
    log.info("%s/%s attempt %d via %s: %s", message.queue_id, delivery.group_key, delivery.attempts, via, state)


def _record(delivery, recipients, replies, via, now, expires_at):
    message = delivery.message
    for recipient in recipients:
        _apply_reply(recipient, replies[recipient.address], message, now, expires_at)
    # Lock the message first, then read every recipient's state: two
    # deliveries of one message finishing at once would otherwise each miss
    # the other's recipients and both leave it "delivering". (The read is a
    # statement of its own so that it sees what the lock waited for.)
    message_now = Message.objects.select_for_update().filter(pk=message.pk).values_list("state", flat=True).get()
    ours = {recipient.pk: recipient.state for recipient in recipients}
    states = [
        (delivery_id, ours.get(pk, state))
        for pk, delivery_id, state in Recipient.objects.filter(message_id=message.pk).values_list(
            "pk", "delivery_id", "state"
        )
    ]
    state = delivery_state({s for delivery_id, s in states if delivery_id == delivery.pk})
    changes = {"state": state, "lease_until": None}
    if state == Delivery.State.DEFERRED:
        changes["next_attempt_at"] = min(now + backoff(delivery.attempts), expires_at)
    else:
        changes["finished_at"] = now
    if recipients:
        changes["last_reply"] = "; ".join(f"{r.address}: {r.reply}" for r in recipients)
    # Our lease's expiry is the fencing token: if it changed, the row is
    # another worker's now and nothing of ours may be written (this is the
    # first write of the transaction).
    if not Delivery.objects.filter(pk=delivery.pk, lease_until=delivery.lease_until).update(**changes):
        raise LeaseLost
    update_alike(Recipient.objects.all(), recipients, ["state", "reply"])
    TrailEntry.objects.create(
        message=message,
        stage="delivery",
        text=_trail_text(delivery, recipients, via, state, changes.get("next_attempt_at")),
        data={
            "delivery": delivery.group_key,
            "attempt": delivery.attempts,
            "via": via,
            "replies": {r.address: r.reply for r in recipients},
            "state": state,
        },
    )
    _set_message_state(message.pk, message_now, message_state(s for _, s in states))
    return state


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


def _set_message_state(message_id, current, state):
    """Inside the transaction that locked the message: its state from its
    recipients', unless it is still being received or processed (or has no
    recipients, or is in that state already)."""
    if state is None or state == current or current in (Message.State.RECEIVED, Message.State.PROCESSING):
        return
    Message.objects.filter(pk=message_id).update(state=state, updated_at=timezone.now())


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
    owing = Recipient.objects.filter(state=Recipient.State.BOUNCED, dsn_sent=False, delivery__isnull=False)
    owing = owing.exclude(delivery__mail_from="")
    return list(owing.values_list("delivery_id", flat=True).distinct())


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
    return settings.LOCKPOST_DELIVERY_LEASE


def _trail_text(delivery, recipients, via, state, next_attempt_at):
    if not recipients:
        return f"{delivery.group_key}: no pending recipients; {state}"
    replies = "; ".join(f"<{r.address}> {r.reply}" for r in recipients)
    text = f"{delivery.group_key} attempt {delivery.attempts} via {via}: {replies}; {state}"
    if next_attempt_at is not None:
        text += f", next try {next_attempt_at:%Y-%m-%d %H:%M:%S} UTC"
    return text
