"""Group recipients that get identical treatment into one output. A Bcc
recipient (named in neither To nor Cc) always gets an output of its own, so
no one learns of them from a shared copy; so does one whose copy a deciding
handler made personal (`alone`)."""

from email.utils import getaddresses

from gateway.pipeline import Group, group_key


def visible_addresses(headers):
    # The fields as received: getaddresses reads them as they are, and
    # building the policy's address-list objects cost more than the rest of grouping.
    # 8-bit bytes (UTF-8 addresses) come as surrogates: make UTF-8 of them again.
    fields = [
        value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        for name, value in headers.raw_items()
        if name.lower() in ("to", "cc")
    ]
    return {addr.lower() for _name, addr in getaddresses(fields) if addr}


def treatment_of(rcpt):
    """What later handlers will do to this recipient's copy: what a deciding
    handler chose, else the direction and the protection asked for."""
    if rcpt.treatment:
        return rcpt.treatment
    encryption = rcpt.settings.get("encryption_mode")
    mode = encryption.value if encryption else "never"
    return f"{rcpt.direction}:{mode}"


def group_recipients(ctx):
    visible = visible_addresses(ctx.headers)
    shared = {}
    for rcpt in ctx.recipients:
        rcpt.bcc = rcpt.address.lower() not in visible
        treatment = treatment_of(rcpt)
        if rcpt.bcc or rcpt.alone:
            ctx.groups.append(Group(group_key(treatment, [rcpt.position]), treatment, [rcpt.position]))
        else:
            shared.setdefault(treatment, []).append(rcpt.position)
    for treatment, positions in shared.items():
        ctx.groups.append(Group(group_key(treatment, positions), treatment, positions))
    ctx.groups.sort(key=lambda g: min(g.positions))
    bcc = sum(1 for r in ctx.recipients if r.bcc)
    ctx.note("group", f"{len(ctx.groups)} output(s) for {len(ctx.recipients)} recipient(s), {bcc} Bcc alone")
