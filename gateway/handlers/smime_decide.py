"""Decide, per outgoing recipient, whether their copy is signed and/or
encrypted with S/MIME, and to which certificates.

Encryption follows the encryption mode (never / allow / if possible /
mandatory); the subject or header trigger, or a message the sender's own
client had encrypted (decrypted here for scanning), makes it mandatory for
the message. A recipient without a usable certificate gets the fallback:
an encrypted PDF where PDF is enabled for them (left untreated for
pdf_decide), plain, or refused with a 5.7.1 bounce. Every certificate
considered, chosen or rejected with its reason, goes into the trail.

The treatment names what makes outputs differ (sign/encrypt, cipher, key
transport, key type, header protection); recipients sharing it share one
output, encrypted to all their certificates. RSA and EC certificates never
meet in one EnvelopedData: NSS rejects such a message whole."""

from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from ca.selection import encryption_certificates
from gateway import smime_headers
from gateway.pdf_settings import pdf_settings
from gateway.smime_keys import sender_identity
from gateway.smime_open import kind_for
from gateway.smime_options import outgoing_options

PLAN = "smime:plan:{}"  # ctx.decided key: a recipient's Plan, by position
SIGNER = "smime:signer"
SENDER_CERTS = "smime:sender-certificates"
# Set by smime_incoming on mail it decrypted with the sender's key (perhaps in
# a decrypt-only pass before a scanner): it must leave encrypted.
REENCRYPT_HEADER = b"x-lockpost-reencrypt"
REFUSAL = "550 5.7.1 Encryption is required for <{}> but no way to encrypt to them is known ({})"


@dataclass
class Plan:
    """What smime_outgoing needs for one recipient's copy (never logged: the signer holds a key)."""

    options: object
    encrypt: bool
    sign: bool
    key_type: str = ""  # "rsa" or "ec"
    certificates: list = field(default_factory=list)  # x509, for this recipient


def decide_smime(ctx):
    outgoing = [r for r in ctx.recipients if r.direction == "outgoing" and not r.treatment and not r.refusal]
    if not outgoing:
        return
    kind = kind_for(ctx)
    triggered = apply_triggers(ctx, outgoing_options(outgoing[0]))
    for rcpt in outgoing:
        decide_one(ctx, rcpt, kind, triggered)


def apply_triggers(ctx, options):
    """Why encryption is mandatory for this message ("" when not), with the
    trigger taken out of the message either way."""
    why = []
    subject = str(ctx.headers.get("Subject", "") or "")
    cleaned = smime_headers.subject_without_trigger(subject, options.subject_trigger)
    if cleaned is not None:
        ctx.raw = smime_headers.with_subject(ctx.raw, cleaned)
        why.append(f"subject trigger {options.subject_trigger!r}")
    if smime_headers.has_header_trigger(ctx.headers, options.header_trigger):
        name, _value = smime_headers.parse_header_trigger(options.header_trigger)
        ctx.raw = smime_headers.without_field(ctx.raw, name)
        why.append(f"header trigger {options.header_trigger!r}")
    if ctx.headers.get(REENCRYPT_HEADER.decode()):
        ctx.raw = smime_headers.without_field(ctx.raw, REENCRYPT_HEADER)
        why.append("the sender's client had encrypted it")
    if why:
        ctx._headers = None  # the bytes changed: parse again when asked
        ctx.note("smime", "encryption mandatory for this message: " + ", ".join(why) + " (removed)")
    return ", ".join(why)


def decide_one(ctx, rcpt, kind, triggered):
    options = outgoing_options(rcpt)
    address = rcpt.address
    if kind in ("enveloped-data", "authEnveloped-data"):
        # Encrypted by the sender's client and not opened here: pass it on as it is.
        rcpt.treatment = "smime:as-is"
        ctx.note("smime", f"{address}: already encrypted by the sender; passed on as it is", recipient=address)
        return
    mandatory = options.encryption_mode == "mandatory" or (triggered and options.encryption_mode != "never")
    wanted = mandatory or options.encryption_mode == "if_possible"
    if triggered and options.encryption_mode == "never":
        ctx.note("smime", f"{address}: encryption mode is never; the trigger is ignored", recipient=address)
    plan = Plan(options=options, encrypt=False, sign=False)
    if wanted:
        selection = encryption_certificates(address)
        for line in selection.explain():
            ctx.note("smime", f"{address}: certificate {line}", recipient=address)
        plan.key_type, plan.certificates = one_key_type(selection.chosen)
        plan.encrypt = bool(plan.certificates)
        if not plan.encrypt and not fallback(ctx, rcpt, options, mandatory):
            return
    plan.sign = decide_signing(ctx, rcpt, options, kind)
    if not (plan.encrypt or plan.sign):
        if wanted and options.fallback == "plain":
            rcpt.treatment = "plain"  # chosen: not PDF either
        return
    rcpt.treatment = treatment_name(plan)
    ctx.decided[PLAN.format(rcpt.position)] = plan
    if plan.encrypt:
        _sender_certificates(ctx, options)
    what = " and ".join(w for w, on in (("signed", plan.sign), ("encrypted", plan.encrypt)) if on)
    detail = f" with {options.cipher.value} to {len(plan.certificates)} {plan.key_type.upper()} certificate(s)"
    ctx.note("smime", f"{address}: S/MIME {what}{detail if plan.encrypt else ''}", recipient=address,
             treatment=rcpt.treatment)  # fmt: skip


def one_key_type(chosen):
    """(key type, x509 certificates) of one key type only: RSA if there is
    any (every client reads it), else EC."""
    parsed = [x509.load_der_x509_certificate(bytes(c.der)) for c in chosen]
    rsa_certs = [c for c in parsed if not isinstance(c.public_key(), ec.EllipticCurvePublicKey)]
    if rsa_certs:
        return "rsa", rsa_certs
    return ("ec", parsed) if parsed else ("", [])


def fallback(ctx, rcpt, options, mandatory):
    """No usable certificate. Returns True when the copy goes on without
    encryption (plain, perhaps signed); False when it was settled here."""
    address = rcpt.address
    pdf = pdf_settings(rcpt)
    pdf_possible = pdf.enabled and pdf.mode != "never"
    if mandatory or options.fallback == "bounce":
        if mandatory and pdf_possible:
            ctx.note("smime", f"{address}: no usable certificate; left to the encrypted PDF", recipient=address)
            return False
        why = "encryption is mandatory" if mandatory else "the fallback is bounce"
        rcpt.treatment = "refused"
        rcpt.refusal = REFUSAL.format(address, f"no usable certificate; {why}")
        ctx.note("smime", f"{address}: refused: no usable certificate and no PDF ({why})", recipient=address)
        return False
    if options.fallback == "pdf" and pdf_possible:
        ctx.note("smime", f"{address}: no usable certificate; left to the encrypted PDF", recipient=address)
        return False
    ctx.note("smime", f"{address}: no usable certificate; sent without encryption", recipient=address)
    return True


def decide_signing(ctx, rcpt, options, kind):
    if options.signing_mode == "never":
        return False
    if kind in ("signed", "signed-data"):
        ctx.note("smime", f"{rcpt.address}: already signed by the sender's client; not signed again")
        return False
    if SIGNER not in ctx.decided:
        identity, selection = sender_identity(ctx.mail_from)
        ctx.decided[SIGNER] = identity
        for line in selection.explain():
            ctx.note("smime", f"signing identity of {ctx.mail_from}: {line}")
        if identity is None:
            ctx.note("smime", f"{ctx.mail_from} has no usable signing identity; not signed")
    return ctx.decided[SIGNER] is not None


def _sender_certificates(ctx, options):
    if SENDER_CERTS in ctx.decided:
        return
    chosen = encryption_certificates(ctx.mail_from).chosen if options.encrypt_to_sender else []
    ctx.decided[SENDER_CERTS] = [x509.load_der_x509_certificate(bytes(c.der)) for c in chosen]


def treatment_name(plan):
    o = plan.options
    ops = "+".join(w for w, on in (("sign", plan.sign), ("encrypt", plan.encrypt)) if on)
    parts = ["smime", ops]
    if plan.encrypt:
        parts += [o.cipher.value, plan.key_type]
        if plan.key_type == "rsa":
            parts.append(o.key_transport.value)
    if o.header_protection:
        parts.append("hp")
    return ":".join(parts)
