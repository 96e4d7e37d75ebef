"""Puts a message straight into the spool, as gateway.spool.store leaves it
(state received, raw bytes, recipients in RCPT order), without ringing: tests
of the worker decide themselves when a worker is asked."""

from email.utils import make_msgid

from gateway.models import Message, RawMessage, Recipient


def mail_bytes(mail_from="alice@corp.test", to=("bob@corp.test",), cc=(), subject="Hello", body="Hi there.\r\n"):
    headers = [
        f"From: {mail_from}",
        f"To: {', '.join(to)}" if to else None,
        f"Cc: {', '.join(cc)}" if cc else None,
        f"Subject: {subject}",
        f"Message-ID: {make_msgid(domain='test')}",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
    ]
    return ("\r\n".join(h for h in headers if h) + "\r\n\r\n" + body).encode()


def spooled_message(mail_from="alice@corp.test", rcpt_tos=("bob@corp.test",), data=None, **fields):
    data = data if data is not None else mail_bytes(mail_from, to=rcpt_tos)
    message = Message.objects.create(
        mail_from=mail_from, size=len(data), sha256=RawMessage.digest(data), subject="Hello", **fields
    )
    RawMessage.objects.create(message=message, data=data)
    Recipient.objects.bulk_create(
        Recipient(message=message, address=address, position=n) for n, address in enumerate(rcpt_tos)
    )
    return message
