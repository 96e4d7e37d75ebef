"""The portal's secure inbox (setting secure_delivery = portal), in two steps.

decide_portal (before pdf_decide): an outgoing recipient not yet given a
treatment (S/MIME decides first, so one with a usable certificate gets
S/MIME) whose secure_delivery is "portal" gets treatment "portal", a copy
of their own.

deliver_to_portal (after group_recipients): each "portal" copy is stored
sealed in the recipient's inbox (portal.services.keep), and the group's
output becomes the notification with the link. So the recipient's Delivery
row carries the notification through the ordinary delivery path: retried,
bounced to the sender when the address is dead, and recorded delivered
when their mail server takes it. The message itself never leaves by SMTP.
A recipient without a portal account is invited (portal.accounts.invite)."""

from ca.selection import encryption_certificates
from gateway.policy.resolver import recipient_wins
from portal import accounts, mail, services

TREATMENT = "portal"


def setting(rcpt, key):
    """As for PDF settings: the recipient's own domain or user level wins
    (a partner domain set to the portal), else the sender's side."""
    return recipient_wins(rcpt.own_settings, rcpt.settings, key)


def decide_portal(ctx):
    for rcpt in ctx.recipients:
        if rcpt.direction != "outgoing" or rcpt.treatment or rcpt.refusal:
            continue
        if setting(rcpt, "secure_delivery") != "portal":
            continue
        if encryption_certificates(rcpt.address).chosen:
            continue
        rcpt.treatment, rcpt.alone = TREATMENT, True
        ctx.note("portal", f"{rcpt.address}: kept in the secure inbox", recipient=rcpt.address)


def deliver_to_portal(ctx):
    for group in ctx.groups:
        if group.treatment != TREATMENT:
            continue
        rcpt = ctx.recipient(group.positions[0])
        item, created = services.keep(
            ctx.queue_id,
            ctx.mail_from,
            rcpt.address,
            ctx.content_for(group),
            retention_days=setting(rcpt, "portal_retention_days"),
            read_receipt=bool(ctx.mail_from) and setting(rcpt, "portal_read_receipt"),
        )
        if created:
            accounts.invite(rcpt.address, reason="secure inbox")
        group.content = services.notification(item, language=mail.language_of(rcpt.address))
        ctx.note(
            "portal", f"{rcpt.address}: stored in the secure inbox (item {item.pk}); notified", recipient=rcpt.address
        )
