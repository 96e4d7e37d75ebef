"""Decide which outgoing recipients get their copy as an encrypted PDF:
those not yet given a treatment (S/MIME decides first) whose settings enable
PDF, always or as the fallback when they have no usable certificate."""

import hashlib
import hmac

from django.conf import settings

from ca.selection import encryption_certificates
from gateway.pdf_settings import STATIC, pdf_settings


def wants_pdf(rcpt, pdf):
    if not pdf.enabled or pdf.mode == "never":
        return False, ""
    if pdf.mode == "always":
        return True, "always"
    if encryption_certificates(rcpt.address).chosen:
        return False, ""
    return True, "no usable certificate"


def treatment_for(pdf):
    """ "pdf:<language>:<password mode>:<delivery>:aes<bits>", plus, for a
    shared static password, a keyed fingerprint of it (so recipients with
    different static passwords never share a PDF; the password itself is
    never written down)."""
    treatment = f"pdf:{pdf.language}:{pdf.password_mode}:{pdf.delivery}:aes{pdf.aes}"
    if pdf.password_mode == STATIC:
        mac = hmac.new(settings.SECRET_KEY.encode(), pdf.static_password.encode(), hashlib.sha256)
        treatment += ":" + mac.hexdigest()[:12]
    return treatment


def decide_pdf(ctx):
    chosen = 0
    for rcpt in ctx.recipients:
        if rcpt.direction != "outgoing" or rcpt.treatment:
            continue
        pdf = pdf_settings(rcpt)
        yes, why = wants_pdf(rcpt, pdf)
        if not yes:
            continue
        rcpt.treatment = treatment_for(pdf)
        # A personal password or a reply link naming the recipient: their
        # copy is theirs alone. Only a static password without a reply link
        # lets recipients share one PDF.
        rcpt.alone = pdf.password_mode != STATIC or pdf.reply_enabled
        chosen += 1
        ctx.note("pdf", f"{rcpt.address}: encrypted PDF ({why})", recipient=rcpt.address, treatment=rcpt.treatment)
    if chosen:
        ctx.note("pdf", f"{chosen} recipient(s) get an encrypted PDF")
