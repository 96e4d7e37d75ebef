"""Make each S/MIME group's copy: signed (detached, multipart/signed),
encrypted (EnvelopedData, or AuthEnvelopedData for GCM), or signed then
encrypted, with RFC 9788 header protection where set. Encrypted to every
certificate of the group's recipients (and the sender's own, if set).
Then, if the sender asked for it, one notice telling them how each
recipient's copy went out.

Groups of incoming recipients whose decrypted copies differ (strict
decryption: not everyone's key opened it) get the copy smime_incoming made
for them. A codec error here raises: the message is retried, never sent
unprotected."""

import logging

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from gateway import smime_headers
from gateway.handlers.smime_decide import PLAN, SENDER_CERTS, SIGNER
from gateway.smime import envelope, mime, signed
from gateway.smime.algorithms import MICALG
from gateway.smime_notice import notify_sender

log = logging.getLogger(__name__)
INCOMING = "smime-in:"


def smime_outgoing(ctx):
    made = []
    for group in ctx.groups:
        if group.treatment.startswith(INCOMING):
            group.content = ctx.decided[group.treatment]
        elif group.treatment.startswith("smime:") and group.treatment != "smime:as-is":
            made.append(make(ctx, group))
    if made and any(ctx.decided[PLAN.format(p)].options.sender_notification for g in made for p in g.positions):
        notice = notify_sender(ctx, [(ctx.recipient(p).address, describe(ctx, g)) for g in made for p in g.positions])
        ctx.note("smime", f"sender told how each copy was protected (notice {notice})")


def make(ctx, group):
    plans = [ctx.decided[PLAN.format(p)] for p in group.positions]
    plan = plans[0]
    certificates = unique([c for p in plans for c in p.certificates] + sender_certificates(ctx, plan))
    group.content = transform(ctx.content_for(group), plan, ctx.decided.get(SIGNER), certificates)
    addresses = ", ".join(ctx.recipient(p).address for p in group.positions)
    ctx.note("smime", f"output for {addresses}: {describe(ctx, group)}", treatment=group.treatment,
             certificates=[c.fingerprint(hashes.SHA256()).hex()[:16] for c in certificates])  # fmt: skip
    log.info("message %s: S/MIME %s for %d recipient(s)", ctx.queue_id, group.treatment, len(group.positions))
    return group


def transform(content, plan, identity, certificates):
    """The message signed and/or encrypted as the plan says."""
    o = plan.options
    outer, entity = mime.inner_entity(content)
    if o.header_protection:
        outer, entity = smime_headers.protect(outer, entity, encrypted=plan.encrypt)
    if plan.sign:
        der = signed.sign(entity, identity, detached=True, digest=o.digest, scheme=o.scheme)
        message = mime.multipart_signed(outer, entity, der, MICALG[o.digest.value])
        if not plan.encrypt:
            return message
        outer, entity = mime.inner_entity(message)
    der = envelope.encrypt(entity, certificates, cipher=o.cipher, key_transport=o.key_transport)
    return mime.pkcs7_mime(outer, der, "authEnveloped-data" if o.cipher.authenticated else "enveloped-data")


def sender_certificates(ctx, plan):
    """The sender's own certificates of the group's key type (never mixed)."""
    if not plan.encrypt:
        return []
    return [c for c in ctx.decided.get(SENDER_CERTS) or [] if key_type(c) == plan.key_type]


def key_type(cert):
    return "ec" if isinstance(cert.public_key(), ec.EllipticCurvePublicKey) else "rsa"


def unique(certificates):
    seen, out = set(), []
    for cert in certificates:
        fingerprint = cert.fingerprint(hashes.SHA256())
        if fingerprint not in seen:
            seen.add(fingerprint)
            out.append(cert)
    return out


def describe(ctx, group):
    plan = ctx.decided[PLAN.format(group.positions[0])]
    o = plan.options
    parts = []
    if plan.sign:
        parts.append(f"signed ({o.digest.value})")
    if plan.encrypt:
        how = o.key_transport.value if plan.key_type == "rsa" else "ECDH"
        parts.append(f"encrypted ({o.cipher.value}, {how})")
    if o.header_protection:
        parts.append("headers protected (RFC 9788)")
    return " and ".join(parts)
