"""The ORM side of DLP: the rules that apply to a sender, and the quarantine
(hold, release, delete, expire, download) with its event log and who may
act on it. The engine (dlp.scan, dlp.inherit) stays pure; this wraps it."""

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from dlp import inherit
from dlp.models import Exemption, QuarantinedMessage, QuarantineEvent, Rule
from dlp.signals import quarantine_released
from gateway.models import Domain, MailUser, Message, RawMessage, Recipient, Setting
from gateway.policy.store import effective_settings

log = logging.getLogger(__name__)
Status = QuarantinedMessage.Status
What = QuarantineEvent.What


class NotHeld(Exception):
    """The quarantined message was already released, deleted or expired."""


# --- rules ------------------------------------------------------------------


def levels_for(address):
    """dlp.inherit levels for a sender: the gateway, each domain row that
    applies (wildcards first), the user. Read now, not kept."""
    address = address.strip().lower()
    domain = address.rpartition("@")[2]
    levels = [_level("gateway", Rule.objects.filter(domain=None, user=None), Exemption.objects.none())]
    for row in Domain.objects.lineage(domain):
        levels.append(_level(f"domain {row.name}", row.dlp_rules.all(), row.dlp_exemptions.all()))
    user = MailUser.objects.filter(email=address).first()
    if user is not None:
        levels.append(_level(f"user {user.email}", user.dlp_rules.all(), user.dlp_exemptions.all()))
    return levels


def _level(name, rules, exemptions):
    return inherit.Level(
        name,
        tuple(r.to_rule() for r in rules.filter(enabled=True).order_by("id")),
        tuple(exemptions.values_list("rule_name", flat=True)),
    )


def rules_for(address):
    """The effective rules (dlp.inherit.EffectiveRules) for mail from `address`,
    read now (the pipeline keeps them: gateway.policy.dlp_rules)."""
    return inherit.effective_rules(levels_for(address))


# --- who -------------------------------------------------------------------


def managers_of(sender, epoch=None):
    """The DLP managers' addresses for mail from `sender` (its effective dlp_managers)."""
    value = effective_settings(sender, epoch)["dlp_managers"].value or ""
    return [a.strip().lower() for a in value.split(",") if a.strip()]


def may_act(user, quarantined):
    """Staff, a DLP manager of the sender's domain, or the sender when their
    settings let senders release their own."""
    if not (user and user.is_authenticated and user.is_active):
        return False
    if user.is_staff:
        return True
    email = (user.email or "").strip().lower()
    if not email:
        return False
    if email in managers_of(quarantined.sender):
        return True
    return email == quarantined.sender.lower() and bool(
        effective_settings(quarantined.sender)["dlp_sender_may_release"].value
    )


def visible_to(user, queryset=None):
    """The quarantined messages `user` may see (exact: each checked with may_act)."""
    queryset = QuarantinedMessage.objects.all() if queryset is None else queryset
    if user.is_staff:
        return queryset
    email = (user.email or "").strip().lower()
    if not email:
        return queryset.none()
    if not Setting.objects.filter(key="dlp_managers", value__icontains=email).exists():
        queryset = queryset.filter(sender=email)  # a manager nowhere: at most a sender
    # Managers can be named at any settings level: check each row as may_act does.
    candidates = [q for q in queryset.select_related("message") if may_act(user, q)]
    return queryset.filter(pk__in=[q.pk for q in candidates])


def who(user):
    return getattr(user, "email", "") or getattr(user, "username", "") or str(user)


# --- the quarantine ----------------------------------------------------------


def hold(message, verdict, action="quarantine"):
    """The quarantine row for a message, made once. Returns (row, created)."""
    days = int(effective_settings(message.mail_from)["dlp_quarantine_days"].value)
    row, created = QuarantinedMessage.objects.get_or_create(
        message=message,
        defaults={
            "sender": message.mail_from.lower(),
            "sender_domain": message.mail_from.rpartition("@")[2].lower(),
            "subject": message.subject,
            "action": action,
            "verdict": verdict,
            "expires_at": timezone.now() + timedelta(days=max(days, 1)),
        },
    )
    if created:
        record(row, "gateway", What.HELD, f"rules: {', '.join(row.rules_hit) or 'unscannable content'}")
    return row, created


def record(quarantined, by, what, note=""):
    return QuarantineEvent.objects.create(quarantined=quarantined, who=by, what=what, note=note[:300])


def _decide(quarantined, by, status):
    """Move a held row to `status`, once: a second release or delete finds it no longer held."""
    with transaction.atomic():
        row = QuarantinedMessage.objects.select_for_update().get(pk=quarantined.pk)
        if row.status != Status.HELD:
            raise NotHeld(f"already {row.status}")
        row.status, row.decided_at, row.decided_by = status, timezone.now(), by
        row.save(update_fields=["status", "decided_at", "decided_by"])
        return row


def release(quarantined, by):
    """Let the message go on through the pipeline after DLP: dlp_scan sees
    the row released and does not scan again. Raises NotHeld when it is not held."""
    row = _decide(quarantined, by, Status.RELEASED)
    record(row, by, What.RELEASED)
    quarantine_released.send(sender=QuarantinedMessage, message_id=row.message_id, by=by)
    log.info("quarantine %s: released by %s", row.pk, by)
    return row


def delete(quarantined, by, status=Status.DELETED):
    """Drop the message: its bytes are removed, its recipients recorded as not
    delivered (no bounce: the sender was told when it was held)."""
    row = _decide(quarantined, by, status)
    with transaction.atomic():
        record(row, by, What.EXPIRED if status == Status.EXPIRED else What.DELETED)
        message = Message.objects.select_for_update().get(pk=row.message_id)
        reply = f"554 5.7.1 {'expired in' if status == Status.EXPIRED else 'deleted from'} the DLP quarantine"
        message.recipients.filter(state__in=[Recipient.State.HELD, Recipient.State.PENDING]).update(
            state=Recipient.State.BOUNCED, reply=reply, dsn_sent=True
        )
        RawMessage.objects.filter(pk=message.pk).delete()
        # Held mail went nowhere, unless recipients outside the hold had it already.
        delivered = message.recipients.filter(state=Recipient.State.DELIVERED).exists()
        message.state = Message.State.PARTLY_DELIVERED if delivered else Message.State.BOUNCED
        message.lease_until = None
        message.save(update_fields=["state", "lease_until", "updated_at"])
    log.info("quarantine %s: %s by %s", row.pk, status, by)
    return row


def download(quarantined, by):
    """The original bytes (recorded as downloaded). RawMessage.DoesNotExist once deleted."""
    data = RawMessage.objects.values_list("data", flat=True).get(pk=quarantined.message_id)
    record(quarantined, by, What.DOWNLOADED)
    return bytes(data)


def viewed(quarantined, by):
    record(quarantined, by, What.VIEWED)


def expire(now=None):
    """Delete held messages whose time in the quarantine is up. Returns how many."""
    now = now or timezone.now()
    done = 0
    for row in QuarantinedMessage.objects.filter(status=Status.HELD, expires_at__lte=now):
        try:
            delete(row, "expiry", status=Status.EXPIRED)
            done += 1
        except NotHeld:
            pass  # released or deleted meanwhile
    if done:
        log.info("quarantine: %d message(s) expired", done)
    return done
