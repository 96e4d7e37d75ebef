"""The Reply link in a PDF: a signed, expiring token naming the message (its
queue id), the sender and the recipient, under LOCKPOST_PORTAL_URL/reply/<token>/.
The portal serves that URL and checks the token with read_reply_token."""

import time

from django.conf import settings
from django.core import signing

SALT = "lockpost.pdf-reply"


class ReplyLinkExpired(signing.BadSignature):
    pass


def reply_token(queue_id, sender, recipient, days, now=None):
    expires = int((now or time.time()) + days * 86400)
    payload = {"q": queue_id, "s": sender, "r": recipient, "exp": expires}
    return signing.dumps(payload, salt=SALT, compress=True)


def read_reply_token(token, now=None):
    """{"q", "s", "r", "exp"}; raises signing.BadSignature when forged or
    changed, ReplyLinkExpired when too old."""
    payload = signing.loads(token, salt=SALT)
    if payload["exp"] < (now or time.time()):
        raise ReplyLinkExpired("the reply link has expired")
    return payload


def reply_url(token):
    return f"{settings.LOCKPOST_PORTAL_URL.rstrip('/')}/reply/{token}/"
