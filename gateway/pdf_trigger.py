"""The subject trigger: "[sms:+31612345678]" in the Subject gives the phone
number for this message's PDF passwords, and is taken out of the subject the
recipient sees. The pattern is a setting, so it runs on RE2 (linear time)."""

import email.policy

import re2

_BLANKS = re2.compile(r"\s{2,}")


def find_trigger(subject, pattern):
    """(phone number or None, subject without the trigger, or None when unchanged)."""
    if not pattern or not subject:
        return None, None
    try:
        expression = re2.compile(pattern)
    except re2.error:
        return None, None
    match = expression.search(subject)
    if match is None:
        return None, None
    phone = match.group(1) if expression.groups else match.group(0)
    cleaned = _BLANKS.sub(" ", subject[: match.start()] + " " + subject[match.end() :]).strip()
    return phone.strip(), cleaned


def with_subject(raw, subject):
    """The message with its Subject field replaced (for the PDF's header block;
    the PDF is a rendering, so nothing signed is touched)."""
    end = raw.find(b"\r\n\r\n")
    cut = end + 2 if end >= 0 else raw.find(b"\n\n") + 1
    if cut <= 0:
        cut = len(raw)
    head, rest = raw[:cut], raw[cut:]  # rest starts with the blank line
    kept, skipping = [], False
    for line in head.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t") and skipping:
            continue  # a folded continuation of the old Subject
        skipping = line.lower().startswith(b"subject:")
        if not skipping:
            kept.append(line)
    return b"".join(kept) + _subject_field(subject) + rest


def _subject_field(subject):
    # RFC 2047 words where needed, folded, CRLF-ended.
    header = email.policy.SMTP.header_factory("Subject", subject)
    return header.fold(policy=email.policy.SMTP).encode("ascii")
