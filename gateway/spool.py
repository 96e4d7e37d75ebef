"""The spool: stores a received message durably (raw bytes, envelope,
recipients) in one transaction. Nothing is acknowledged before `store` returns.

store(mail_from, rcpt_tos, data, *, client_address="", client_helo="",
      mta_queue_id="", received_at=None, listener_profile="") -> Message
    One transaction writes the Message (state received, size, sha256, the
    decoded Subject), its RawMessage (the exact bytes, never rewritten) and
    one Recipient row per RCPT TO in order; MailUser rows are created for the
    sender and the recipients when first seen. On PostgreSQL a small message
    is written by one statement (gateway.spool_statement); a large one, and
    any on SQLite, through the ORM, its bytes in slices (gateway.spool_raw,
    which also reads them back). After the commit the doorbell
    rings (gateway.doorbell.ring) so a worker picks the message up; a lost
    ring is repaired by the sweeper. Raises on any failure, leaving nothing
    behind: the caller (the LMTP listener) then answers 4xx and the MTA retries.

store_many(envelopes) -> [Message]
    The same for several messages in one transaction, all or none.

store_notice(to, subject, text, *, envelope_sender=None) -> Message
    A plain-text notice Lockpost writes itself (password notices, DLP and
    portal mail), queued to run the "system" pipeline: delivered as it is,
    never wrapped in S/MIME or PDF, and never scanned as if a user wrote it.
"""

import email.parser
import email.policy
import hashlib
import logging
import threading
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from cachetools import TTLCache
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from gateway import spool_statement
from gateway.models import MailUser, Message, Recipient
from gateway.spool_raw import save_raws

log = logging.getLogger(__name__)

# Headers end at the first empty line; a message without one is all header.
# Only this much is parsed for the Subject, however large the message.
HEADER_SCAN_LIMIT = 256 * 1024
SUBJECT_MAX = Message._meta.get_field("subject").max_length
ADDRESS_MAX = Message._meta.get_field("mail_from").max_length


def store(mail_from, rcpt_tos, data, **fields):
    """One message (see the module's docstring); returns its Message."""
    return store_many([{"mail_from": mail_from, "rcpt_tos": rcpt_tos, "data": data, **fields}])[0]


def store_many(envelopes):
    """Several messages in one transaction, all or none, each stored as
    `store` stores one: the LMTP listener stores together what its sessions
    hand over at the same moment. `envelopes` are dicts of store's arguments.
    A bad envelope raises ValueError or TypeError before anything is written.
    Returns the Messages, in order."""
    checked = [_checked(**envelope) for envelope in envelopes]
    messages = [message for message, _, _ in checked]
    recipients = [
        Recipient(message=message, address=address, position=position)
        for message, rcpt_tos, _ in checked
        for position, address in enumerate(rcpt_tos)
    ]
    addresses = {address for message, rcpt_tos, _ in checked for address in [message.mail_from, *rcpt_tos]}
    if spool_statement.fits(checked):
        # One statement, atomic by itself: on its own, no transaction is opened.
        new_users = _unwritten_users(addresses)
        spool_statement.store(checked, recipients, new_users)
        transaction.on_commit(lambda: _written(new_users))
    else:
        with transaction.atomic():
            Message.objects.bulk_create(messages)
            save_raws([(message, data) for message, _, data in checked])
            remember_users(addresses)
            Recipient.objects.bulk_create(recipients)
    transaction.on_commit(lambda: [ring(message.pk) for message in messages], robust=True)
    return messages


def _checked(
    mail_from,
    rcpt_tos,
    data,
    *,
    client_address="",
    client_helo="",
    mta_queue_id="",
    received_at=None,
    listener_profile="",
):
    """(the unsaved Message, its recipients, its bytes), or ValueError/TypeError."""
    mail_from = normalise_sender(mail_from)
    rcpt_tos = [check_address(address, "recipient") for address in rcpt_tos]
    if not rcpt_tos:
        raise ValueError("a message needs at least one recipient")
    if not isinstance(data, bytes | bytearray):
        raise TypeError(f"message data must be bytes, not {type(data).__name__}")
    message = Message(
        mail_from=mail_from,
        client_address=client_address[:64],
        client_helo=client_helo[:255],
        mta_queue_id=mta_queue_id[:64],
        listener_profile=listener_profile,
        received_at=received_at or timezone.now(),
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        subject=subject_of(data),
    )
    return message, rcpt_tos, data


SYSTEM_PROFILE = "system"


def store_notice(to, subject, text, *, envelope_sender=None):
    """Queue a notice from the postmaster to `to` (an address or a list)."""
    recipients = [to] if isinstance(to, str) else list(to)
    postmaster = settings.LOCKPOST_POSTMASTER
    notice = EmailMessage(policy=email.policy.SMTP)
    notice["From"] = f"Lockpost <{postmaster}>"
    notice["To"] = ", ".join(recipients)
    notice["Subject"] = subject
    notice["Date"] = format_datetime(timezone.now())
    notice["Message-ID"] = make_msgid(domain=settings.LOCKPOST_HOSTNAME)
    notice["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to this
    notice.set_content(text)
    sender = postmaster if envelope_sender is None else envelope_sender
    return store(sender, recipients, notice.as_bytes(), listener_profile=SYSTEM_PROFILE)


def normalise_sender(mail_from):
    # aiosmtpd hands the null sender over as "<>"; the spool stores it empty.
    mail_from = (mail_from or "").strip()
    if mail_from in {"", "<>"}:
        return ""
    return check_address(mail_from, "sender")


def check_address(address, role):
    address = address.strip()
    local, at, domain = address.rpartition("@")
    if not (local and at and domain) or len(address) > ADDRESS_MAX:
        raise ValueError(f"bad {role} address: {address[:80]!r}")
    return address


# Addresses this process made sure of lately: not written again for a
# minute. A busy gateway sees the same senders and recipients all the time,
# and the INSERT cost a statement a message. (A row an admin deletes comes
# back with the first message after that minute.)
_users_written = TTLCache(maxsize=20_000, ttl=60)
_users_written_lock = threading.Lock()


def remember_users(addresses):
    """Create a MailUser for every address not seen before. One statement;
    concurrent stores of the same new address do not collide. Only after
    the caller's transaction commits are the addresses taken as written."""
    emails = _unwritten_users(addresses)
    if not emails:
        return
    MailUser.objects.bulk_create([MailUser(email=email) for email in emails], ignore_conflicts=True)
    transaction.on_commit(lambda: _written(emails))


def _unwritten_users(addresses):
    emails = sorted({address.lower() for address in addresses if address})
    with _users_written_lock:
        return [email for email in emails if email not in _users_written]


def _written(emails):
    with _users_written_lock:
        for email in emails:
            _users_written[email] = True


def forget_users():
    """Write every address again when next seen (after a database restore, in tests)."""
    with _users_written_lock:
        _users_written.clear()


def subject_of(data):
    """The Subject header, decoded (RFC 2047, or raw UTF-8), on one line.
    Only for display: a broken header gives an empty or partial subject,
    never a refused message."""
    try:
        subject = str(read_headers(data).get("subject", ""))
    except Exception:  # any header the parser chokes on
        log.warning("unreadable Subject header; stored without one")
        return ""
    # Undecodable 8-bit bytes arrive as surrogates: recover raw UTF-8 where
    # it is UTF-8, and drop what the database could not store (NUL, controls).
    subject = subject.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    subject = " ".join("".join(ch for ch in subject if ch.isprintable() or ch.isspace()).split())
    return subject[:SUBJECT_MAX]


def read_headers(data):
    """The top-level header fields of a message (its header block alone),
    read as email.policy.default reads them.

    Parsed under compat32 and then read under default: both keep a field's
    raw text alike, and default's values come from that raw text when read.
    Parsing under default itself also parses Content-Type at the end (the
    feed parser's multipart check), which took three quarters of the time."""
    headers = email.parser.BytesHeaderParser(_class=EmailMessage, policy=email.policy.compat32).parsebytes(
        header_block(data)
    )
    headers.policy = email.policy.default
    return headers


def header_block(data):
    ends = [data.find(blank, 0, HEADER_SCAN_LIMIT) for blank in (b"\r\n\r\n", b"\n\n")]
    found = [end for end in ends if end >= 0]
    end = min(found) if found else HEADER_SCAN_LIMIT
    return bytes(data[:end]) + b"\r\n\r\n"


def ring(message_id):
    """Tell a worker. Tolerates a doorbell that is not wired up yet: the
    sweeper finds messages nobody rang for."""
    try:
        from gateway import doorbell
    except ImportError:
        return
    ring_bell = getattr(doorbell, "ring", None)
    if ring_bell is None:
        return
    try:
        ring_bell(message_id)
    except Exception:
        log.exception("doorbell failed for message %s; the sweeper will pick it up", message_id)
