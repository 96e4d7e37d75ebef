import itertools

from .base import BaseSmsBackend

outbox: list[dict] = []  # like django.core.mail.outbox
_ids = itertools.count(1)


class SmsBackend(BaseSmsBackend):
    """Keeps each SMS in portal.sms.backends.locmem.outbox (tests)."""

    def send(self, to: str, body: str) -> str:
        sid = f"locmem-{next(_ids)}"
        outbox.append({"id": sid, "to": to, "body": body})
        return sid
