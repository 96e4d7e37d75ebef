"""Choosing the password of one recipient's PDF, as their settings say:

- static: the admin's pdf_static_password (agreed beforehand, never sent);
- generated: random; new per message, or kept per recipient for
  pdf_password_validity_days (sealed at rest under the master key);
- one_time: HMAC of a per-recipient secret (sealed at rest) and the message's
  queue id, so the same password can be derived again later (the portal).

The password itself never enters a repr, a log line or the trail."""

import os
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ca.sealing import seal, unseal
from gateway.pdf_secret_model import PdfSecret
from gateway.pdf_settings import ONE_TIME, STATIC
from gateway.pdfmail import generate_password, one_time_password

KEPT_PURPOSE = "pdf-password"
OTP_PURPOSE = "pdf-otp-secret"


class PasswordUnavailable(Exception):
    """No password can be chosen (a static password that was never set)."""


@dataclass(frozen=True)
class Password:
    value: str = field(repr=False)
    how: str  # "static", "generated", "kept N days", "one-time"
    # A static password is known to the recipient already; the others must reach them.
    needs_delivery: bool = True


def choose_password(address, pdf, queue_id):
    address = address.strip().lower()
    if pdf.password_mode == STATIC:
        if not pdf.static_password:
            raise PasswordUnavailable("the password mode is static but no pdf_static_password is set")
        return Password(pdf.static_password, "static", needs_delivery=False)
    if pdf.password_mode == ONE_TIME:
        return Password(one_time_password(otp_secret(address), queue_id, pdf.password_length), "one-time")
    if pdf.validity_days > 0:
        value = kept_password(address, pdf.password_length, pdf.validity_days)
        return Password(value, f"generated, kept {pdf.validity_days} day(s)")
    return Password(generate_password(pdf.password_length), "generated")


def kept_password(address, length, days, now=None):
    """The recipient's password while it is valid (and of the asked length);
    a new one, stored sealed, otherwise."""
    now = now or timezone.now()
    key = settings.LOCKPOST_MASTER_KEY

    def fresh():
        value = generate_password(length)
        return value, {"sealed": seal(value.encode(), key, KEPT_PURPOSE), "valid_until": now + timedelta(days=days)}

    value, fields = fresh()
    row, created = PdfSecret.objects.get_or_create(address=address, kind=PdfSecret.Kind.KEPT_PASSWORD, defaults=fields)
    if created:
        return value
    with transaction.atomic():
        # Locked: two messages to the same recipient at once agree on one password.
        row = PdfSecret.objects.select_for_update().get(pk=row.pk)
        if row.valid_until and row.valid_until > now:
            kept = unseal(row.sealed, key, KEPT_PURPOSE).decode()
            if len(kept) == length:
                return kept
        PdfSecret.objects.filter(pk=row.pk).update(created_at=now, **fields)
    return value


def otp_secret(address):
    """The recipient's one-time password secret, made on first use."""
    key = settings.LOCKPOST_MASTER_KEY
    row, _ = PdfSecret.objects.get_or_create(
        address=address,
        kind=PdfSecret.Kind.OTP_SECRET,
        defaults={"sealed": seal(os.urandom(32), key, OTP_PURPOSE)},
    )
    return unseal(row.sealed, key, OTP_PURPOSE)
