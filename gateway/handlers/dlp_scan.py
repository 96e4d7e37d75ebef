"""Scan outgoing mail for data leaks (dlp.scan) against the sender's rules
(gateway, domain, user, with exemptions) and act on the verdict:

- warn: deliver, tell the sender and the DLP managers;
- force_encrypt: encryption becomes mandatory for every outgoing copy (the
  S/MIME and PDF deciders honour the encryption mode); dlp_enforce, after
  them, holds the message if some copy still cannot be encrypted;
- quarantine: hold the message (dlp.models.QuarantinedMessage) and notify;
- block: refuse the outgoing recipients with a 5.7.1 reply (the sender gets
  the DSN) and notify.

With dlp_delay_evaluation, quarantine and block wait for dlp_enforce, which
lets copies that leave encrypted go with a warning. A message released from
the quarantine passes here unscanned, exactly as the manager let it go.
The trail holds the verdict with masked evidence only."""

import logging

from django.db import transaction

from dlp import services
from dlp.models import QuarantinedMessage
from dlp.notices import notify
from dlp.scan import scan_message
from gateway import spool
from gateway.models import Message
from gateway.pipeline import HoldMessage
from gateway.policy import dlp_rules
from gateway.policy.cache import epoch_for
from gateway.policy.definitions import DEFINITIONS
from gateway.policy.resolver import Effective

log = logging.getLogger(__name__)
VERDICT = "dlp:verdict"  # ctx.decided: the verdict dict, for dlp_enforce
FORCED = "dlp:forced"  # positions whose copy must leave encrypted
DELAYED = "dlp:delayed"  # the action waits for dlp_enforce
QUARANTINE_ROW = "dlp:quarantine"  # the message's quarantine row (or None), read for a batch
REFUSAL = "550 5.7.1 Refused by the data leak prevention policy (rules: {})"


def value(rcpt, key):
    effective = rcpt.settings.get(key)
    return effective.value if effective is not None else DEFINITIONS[key].default


def dlp_scan(ctx):
    outgoing = [r for r in ctx.recipients if r.direction == "outgoing"]
    if not outgoing or not ctx.mail_from:
        return
    sender = outgoing[0]  # outgoing recipients carry the sender's settings
    if not value(sender, "dlp_enabled"):
        ctx.note("dlp", "DLP is off for this sender")
        return
    if already_decided(ctx):
        return
    effective = dlp_rules.rules_for(ctx.mail_from, epoch_for(ctx))
    for level, name, reason in effective.refused:
        ctx.note("dlp", f"{level}: rule {name!r} not exempted: {reason}")
    if not effective.rules:
        ctx.note("dlp", "no DLP rules apply to this sender")
        return
    verdict = scan_message(effective.rules, ctx.raw, unscannable_action=value(sender, "dlp_unscannable_action"))
    found = verdict.as_dict()
    if verdict.action is None:
        ctx.note("dlp", f"clean: {len(effective.rules)} rule(s) checked")
        return
    ctx.note("dlp", f"verdict {verdict.action}: {summary(found)}", verdict=found)
    ctx.decided[VERDICT] = found
    action = verdict.action
    if action == "force_encrypt":
        force_encryption(ctx, outgoing)
        return  # dlp_enforce notifies once the deciders have chosen
    if action in ("quarantine", "block") and value(sender, "dlp_delay_evaluation"):
        ctx.decided[DELAYED] = True
        ctx.note("dlp", f"{action} delayed until the encryption decision (delay evaluation)")
        return
    apply(ctx, action, found, outgoing)


def prepare(contexts):
    """A batch's quarantine rows in one query (see already_decided)."""
    rows = {row.message.queue_id: row for row in _quarantine_rows([ctx.queue_id for ctx in contexts])}
    for ctx in contexts:
        ctx.decided[QUARANTINE_ROW] = rows.get(ctx.queue_id)


dlp_scan.prepare = prepare


def _quarantine_rows(queue_ids):
    return QuarantinedMessage.objects.filter(message__queue_id__in=queue_ids).select_related("message")


def already_decided(ctx):
    """True when a quarantine decision stands: released mail goes on unscanned;
    held mail stays held (a requeue is no way round the quarantine)."""
    row = ctx.decided[QUARANTINE_ROW] if QUARANTINE_ROW in ctx.decided else _quarantine_rows([ctx.queue_id]).first()
    if row is None:
        return False
    if row.status == QuarantinedMessage.Status.RELEASED:
        ctx.note("dlp", f"released from the DLP quarantine by {row.decided_by}; not scanned again")
        return True
    raise HoldMessage(f"in the DLP quarantine ({row.status})")


def summary(found):
    parts = [f"{h['rule']} ({h['count']}: {', '.join(e['masked'] for e in h['evidence'])})" for h in found["hits"]]
    parts += [f"unscannable {u['location']} ({u['reason']})" for u in found["unscannable"]]
    return "; ".join(parts)


def force_encryption(ctx, outgoing):
    # The deciders read the encryption mode from the recipient's settings:
    # mandatory means S/MIME, else the encrypted PDF, else refused (which
    # dlp_enforce turns into a hold).
    for rcpt in outgoing:
        rcpt.settings = {**rcpt.settings, "encryption_mode": Effective("mandatory", "DLP verdict")}
    ctx.decided[FORCED] = [r.position for r in outgoing]
    ctx.note("dlp", f"encryption made mandatory for {len(outgoing)} outgoing recipient(s)")


def apply(ctx, action, found, outgoing, reason=""):
    """Carry out `action` for `outgoing` (the recipients it concerns)."""
    message = Message.objects.get(queue_id=ctx.queue_id)
    sender = outgoing[0]
    told = {"managers": services.managers_of(ctx.mail_from, epoch_for(ctx)), "language": value(sender, "dlp_language")}
    addresses = [r.address for r in outgoing]
    if action == "quarantine":
        quarantine(ctx, message, found, told, reason)
    if action == "block":
        rules = ", ".join(h["rule"] for h in found["hits"]) or "unscannable content"
        for rcpt in outgoing:
            rcpt.treatment, rcpt.refusal = "refused", REFUSAL.format(rules)
        ctx.note("dlp", f"blocked: {', '.join(addresses)} refused (5.7.1); the sender gets a DSN")
    queued = notify(message, action, found, queue=spool.store_notice, recipients=addresses, reason=reason, **told)
    if queued:
        ctx.note("dlp", f"notified the sender and {len(told['managers'])} DLP manager(s)", notices=queued)


def quarantine(ctx, message, found, told, reason=""):
    with transaction.atomic():  # the row and its notices, or neither
        row, created = services.hold(message, found)
        queued = (
            notify(message, "quarantine", found, queue=spool.store_notice, quarantined=row, reason=reason, **told)
            if created
            else []
        )
    if created:
        ctx.note("dlp", f"quarantined (#{row.pk}); notified the sender and {len(told['managers'])} DLP manager(s)",
                 quarantine=row.pk, notices=queued)  # fmt: skip
    log.info("message %s: held in the DLP quarantine (#%s)", ctx.queue_id, row.pk)
    raise HoldMessage(f"DLP quarantine #{row.pk}: {reason or summary(found)}")
