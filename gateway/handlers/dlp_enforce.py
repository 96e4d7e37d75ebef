"""After the S/MIME and PDF deciders: carry out what dlp_scan left for the
moment the encryption decision is known.

- Forced encryption: every outgoing copy must now be S/MIME-encrypted or an
  encrypted PDF; if one is not (no certificate and no PDF, so the decider
  refused or left it plain), the message is quarantined instead.
- Delay evaluation: copies that leave encrypted only warn; the verdict's
  quarantine or block applies when some copy would leave in clear."""

from gateway.handlers.dlp_scan import DELAYED, FORCED, VERDICT, apply


def leaves_encrypted(rcpt):
    treatment = rcpt.treatment or ""
    if rcpt.refusal:
        return False
    if treatment.startswith("pdf:"):
        return True
    kind, _, rest = treatment.partition(":")
    ops = rest.partition(":")[0]
    return kind == "smime" and (ops == "as-is" or "encrypt" in ops.split("+"))


def dlp_enforce(ctx):
    found = ctx.decided.get(VERDICT)
    if not found:
        return
    outgoing = [r for r in ctx.recipients if r.direction == "outgoing"]
    clear = [r for r in outgoing if not leaves_encrypted(r)]
    if FORCED in ctx.decided:
        forced = [r for r in clear if r.position in ctx.decided[FORCED]]
        if forced:
            names = ", ".join(r.address for r in forced)
            apply(ctx, "quarantine", found, outgoing, reason=f"encryption not possible for {names}")
        ctx.note("dlp", f"encryption forced: all {len(outgoing)} outgoing copies leave encrypted")
        apply(ctx, "force_encrypt", found, outgoing)
        return
    if not ctx.decided.get(DELAYED):
        return
    action = found["action"]
    if not clear:
        ctx.note("dlp", f"delay evaluation: every outgoing copy leaves encrypted; {action} lowered to warn")
        apply(ctx, "warn", found, outgoing, reason=f"{action} lowered: sent encrypted")
        return
    names = ", ".join(r.address for r in clear)
    ctx.note("dlp", f"delay evaluation: {names} would get the message in clear; {action} applies")
    # Block refuses only the copies in clear; quarantine holds the message whole.
    apply(ctx, action, found, clear if action == "block" else outgoing)
    if action == "block" and len(clear) < len(outgoing):
        ctx.note("dlp", f"{len(outgoing) - len(clear)} encrypted cop(y/ies) go out")
