"""Turn each PDF group's copy into a cover message carrying the whole
message as an AES-encrypted PDF, and get the password to the recipient.

In three passes, so that nothing goes out half-done: first every password is
chosen and checked deliverable (a recipient whose password cannot reach them
holds the message, and the sender is told); then every PDF is built; then
the passwords are sent (SMS) or collected into one notice to the sender.
An SMS that fails also holds the message: it is never sent unprotected.
Passwords never appear in a log line or in the trail."""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.template import TemplateSyntaxError

from gateway.pdf_notices import notify_passwords, notify_undeliverable
from gateway.pdf_passwords import Password, PasswordUnavailable, choose_password
from gateway.pdf_settings import PdfSettings, pdf_settings
from gateway.pdf_trigger import find_trigger, with_subject
from gateway.pdfmail import build_cover_message, encrypted_message_pdf
from gateway.pipeline import Group, HoldMessage, RecipientInfo
from gateway.reply_links import reply_token, reply_url
from portal.sms import SmsError, send_password_sms, to_e164

log = logging.getLogger(__name__)


@dataclass
class Job:
    group: Group
    rcpt: RecipientInfo
    pdf: PdfSettings
    subject: str  # as the sender wrote it
    shown_subject: str | None  # without the trigger; None when unchanged
    phone: str
    password: Password | None = None

    @property
    def via(self):
        """What the cover says about the password: sms, sender, or None (agreed beforehand)."""
        return self.pdf.delivery if self.password.needs_delivery else None


def encrypt_pdf_groups(ctx):
    jobs = [plan(ctx, group) for group in ctx.groups if group.treatment.startswith("pdf:")]
    for job in jobs:
        choose(ctx, job)
    for job in jobs:
        build(ctx, job)
    for_sender = []
    for job in jobs:
        deliver(ctx, job, for_sender)
    if for_sender:
        notice = notify_passwords(ctx, jobs[0].subject, for_sender)
        ctx.note("pdf", f"password(s) of {len(for_sender)} recipient(s) mailed to the sender (notice {notice})")


def plan(ctx, group):
    rcpt = ctx.recipient(group.positions[0])
    pdf = pdf_settings(rcpt)
    subject = str(ctx.headers.get("Subject", "") or "").strip()
    trigger_phone, shown = find_trigger(subject, pdf.sms_trigger)
    return Job(group, rcpt, pdf, subject, shown, trigger_phone or pdf.phone_number)


def choose(ctx, job):
    try:
        job.password = choose_password(job.rcpt.address, job.pdf, ctx.queue_id)
    except PasswordUnavailable as error:
        hold(ctx, job, str(error))
    if job.via == "sms":
        if not job.phone:
            hold(ctx, job, "no mobile number is known for them")
        try:
            job.phone = to_e164(job.phone, getattr(settings, "LOCKPOST_SMS_DEFAULT_REGION", None))
        except SmsError as error:
            hold(ctx, job, str(error))


def build(ctx, job):
    raw = ctx.raw if job.shown_subject is None else with_subject(ctx.raw, job.shown_subject)
    link = None
    if job.pdf.reply_enabled and len(job.group.positions) == 1:
        link = reply_url(reply_token(ctx.queue_id, ctx.mail_from, job.rcpt.address, job.pdf.reply_days))
    pdf_bytes = encrypted_message_pdf(
        raw, job.password.value, reply_url=link, language=job.pdf.language, aes=job.pdf.aes
    )
    cover = dict(
        language=job.pdf.language,
        password_via=job.via,
        reply_url=link,
        portal_url=settings.LOCKPOST_PORTAL_URL,
        subject=job.shown_subject,
    )
    overrides = {k: v for k, v in (("text", job.pdf.cover_text), ("html", job.pdf.cover_html)) if v}
    try:
        job.group.content = build_cover_message(ctx.raw, pdf_bytes, overrides=overrides, **cover)
    except TemplateSyntaxError as error:
        # A broken cover template set by an admin must not stop the mail.
        ctx.note("pdf", f"cover template unusable ({error}); used the built-in one")
        job.group.content = build_cover_message(ctx.raw, pdf_bytes, **cover)


def deliver(ctx, job, for_sender):
    cipher = f"AES-{job.pdf.aes}"
    data = {"cipher": cipher, "password": job.password.how, "language": job.pdf.language}
    for position in job.group.positions:
        address = ctx.recipient(position).address
        if job.via == "sms":
            try:
                sms_id = send_password_sms(
                    job.phone, job.password.value, language=job.pdf.language, subject=job.shown_subject or job.subject,
                    sender=ctx.mail_from,
                )  # fmt: skip
            except SmsError as error:
                hold(ctx, job, f"the SMS failed: {error}")
            how = f"by SMS to {masked(job.phone)}"
            data.update(delivery="sms", phone=masked(job.phone), sms_id=sms_id)
        elif job.via == "sender":
            for_sender.append((address, job.password.value))
            how = "mailed to the sender"
            data.update(delivery="sender")
        else:
            how = "static, agreed beforehand, not sent"
            data.update(delivery="none")
        ctx.note("pdf", f"{address}: encrypted PDF, {cipher}, password {job.password.how}, {how}", recipient=address,
                 **data)  # fmt: skip
        log.info("message %s: PDF for %s, %s, password %s", ctx.queue_id, address, cipher, how)


def hold(ctx, job, reason):
    address = job.rcpt.address
    notice = notify_undeliverable(ctx, job.subject, address, reason) if ctx.mail_from else None
    ctx.note(
        "pdf",
        f"{address}: the PDF password could not be delivered ({reason}); message held, sender told",
        recipient=address,
        notice=notice,
    )
    log.warning("message %s: PDF password for %s not deliverable: %s; held", ctx.queue_id, address, reason)
    raise HoldMessage(f"the PDF password for {address} could not be delivered: {reason}")


def masked(phone):
    """Enough of a number to recognise it in the trail, not to dial it."""
    return phone[:4] + "*" * max(len(phone) - 7, 0) + phone[-3:] if len(phone) > 7 else "***"
