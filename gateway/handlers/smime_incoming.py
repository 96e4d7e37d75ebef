"""Open S/MIME on the way in: decrypt with the recipient's key held by the
gateway, verify signatures against our trust anchors, say what was found in
X-Lockpost-Info-* headers, optionally remove a valid signature layer, and
keep every certificate seen (ca.store.harvest).

X-Lockpost-Info-* headers from senders are removed first, whatever the
direction: only the gateway writes them.

A message that cannot be decrypted or verified passes on unchanged (with
the headers saying why). With strict decryption recipients may differ in
which keys they may use; each different result becomes its own copy.

Outgoing mail the sender's client encrypted is decrypted with the sender's
key when their decrypt_outgoing setting says so (the scanner flow); it is
marked so that encryption is mandatory for it on the way out, and internal
recipients keep the sender's encrypted original."""

import logging

from django.utils import timezone

from ca import trust
from ca.store import harvest
from gateway import smime_headers
from gateway.smime.mime import Entity
from gateway.smime_keys import held_certificates, identity_of, recipient_ids, tied_to
from gateway.smime_open import ENCRYPTED, SIGNED, info_headers, kind_for, open_message

log = logging.getLogger(__name__)
INCOMING = "smime-in:"
REENCRYPT_HEADER = "X-Lockpost-Reencrypt"


def validation_time():
    """When signatures are judged: now (tests of old samples move it)."""
    return timezone.now()


def smime_incoming(ctx):
    stripped = smime_headers.without_info_headers(ctx.raw)
    if stripped != ctx.raw:
        ctx.raw, ctx._headers = stripped, None
        ctx.note("smime", "removed X-Lockpost-Info headers written before the gateway (not ours)")
    kind = kind_for(ctx)
    if kind not in ENCRYPTED + SIGNED:
        return
    incoming = [r for r in ctx.recipients if r.direction == "incoming"]
    if incoming:
        open_incoming(ctx, incoming)
    elif kind in ENCRYPTED and any(
        _setting(r, "decrypt_outgoing") for r in ctx.recipients if r.direction == "outgoing"
    ):
        open_outgoing(ctx)


def _setting(rcpt, key):
    effective = rcpt.settings.get(key)
    return effective.value if effective is not None else None


def held(ctx):
    """Stored certificates with a key that the message is addressed to ([] if not encrypted or unreadable)."""
    if kind_for(ctx) not in ENCRYPTED:
        return []
    try:
        der = Entity.parse(ctx.raw).decoded_body()
        recipient_ids(der)  # garbage raises here, before any query
    except Exception:
        return []
    return held_certificates(der)


def open_incoming(ctx, recipients):
    certificates = held(ctx)
    context = trust.current()
    at = validation_time()
    variants = {}
    for rcpt in recipients:
        strict = _setting(rcpt, "strict_decryption")
        usable = tuple(c for c in certificates if not strict or tied_to(c, rcpt.address))
        key = (tuple(c.pk for c in usable), bool(_setting(rcpt, "add_info_headers")),
               bool(_setting(rcpt, "remove_signature")))  # fmt: skip
        variants.setdefault(key, (usable, []))[1].append(rcpt)
    results = {}
    seen = []
    for key, (usable, members) in variants.items():
        _ids, add_info, remove = key
        opened = open_message(
            ctx.raw,
            [identity_of(c) for c in usable],
            trust_roots=context.anchors,
            intermediates=context.intermediates,
            at=at,
            remove_signature=remove,
        )
        seen += opened.certificates
        headers = info_headers(opened)
        output = smime_headers.prepend_fields(opened.message, headers) if add_info else opened.message
        results[key] = output
        addresses = ", ".join(r.address for r in members)
        summary = "; ".join(f"{n[len('X-Lockpost-Info-') :]}: {v}" for n, v in headers) or "nothing to report"
        ctx.note("smime", f"incoming S/MIME for {addresses}: {summary}", recipients=[r.address for r in members])
    if seen:
        new = harvest(seen)
        ctx.note("smime", f"harvested {len(set(seen))} certificate(s) from the signature ({new} new)")
    if len(variants) == 1:
        ctx.raw, ctx._headers = next(iter(results.values())), None
        return
    for n, (key, (_usable, members)) in enumerate(variants.items()):
        treatment = f"{INCOMING}{n}"
        ctx.decided[treatment] = results[key]
        for rcpt in members:
            rcpt.treatment = treatment


def open_outgoing(ctx):
    """The re-encrypt flow: open the sender's own encryption with their key."""
    certificates = [c for c in held(ctx) if tied_to(c, ctx.mail_from)]
    if not certificates:
        ctx.note("smime", f"encrypted by the sender's client; no key of {ctx.mail_from} held; passed on as it is")
        return
    context = trust.current()
    opened = open_message(
        ctx.raw,
        [identity_of(c) for c in certificates],
        trust_roots=context.anchors,
        intermediates=context.intermediates,
        at=validation_time(),
    )
    if opened.decrypted is None:
        ctx.note("smime", f"encrypted by the sender's client; not decrypted: {opened.decrypt_problem}")
        return
    original = ctx.raw
    # Marked for the way out: encryption is mandatory for it (smime_decide).
    ctx.raw = smime_headers.prepend_fields(opened.decrypted.message, [(REENCRYPT_HEADER, "yes")])
    ctx._headers = None
    ctx.note("smime", f"decrypted with the sender's key ({opened.decrypted.details.cipher}) to be re-encrypted")
    internal = [r for r in ctx.recipients if r.direction == "internal"]
    if internal:
        treatment = f"{INCOMING}original"
        ctx.decided[treatment] = original
        for rcpt in internal:
            rcpt.treatment = treatment
