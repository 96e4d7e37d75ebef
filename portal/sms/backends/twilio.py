"""Twilio's Messages API through the official client. The API root is a
setting so tests point it at a loopback fake; temporary failures (5xx, 429,
no connection) are retried with exponential backoff, others raised at once."""

import logging
import time

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from ..errors import SmsPermanentError, SmsTemporaryError
from .base import BaseSmsBackend

log = logging.getLogger(__name__)


def _setting(name, default=None):
    return getattr(settings, name, default)


class SmsBackend(BaseSmsBackend):
    def __init__(
        self,
        account_sid=None,
        auth_token=None,
        from_number=None,
        messaging_service_sid=None,
        api_root=None,
        retries=None,
        backoff=None,
        timeout=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.account_sid = account_sid or _setting("LOCKPOST_TWILIO_ACCOUNT_SID")
        auth_token = auth_token or _setting("LOCKPOST_TWILIO_AUTH_TOKEN")
        self.from_number = from_number or _setting("LOCKPOST_SMS_FROM")
        self.messaging_service_sid = messaging_service_sid or _setting("LOCKPOST_TWILIO_MESSAGING_SERVICE_SID")
        if not (self.account_sid and auth_token):
            raise ImproperlyConfigured("the Twilio SMS backend needs LOCKPOST_TWILIO_ACCOUNT_SID and _AUTH_TOKEN")
        if not (self.from_number or self.messaging_service_sid):
            raise ImproperlyConfigured("the Twilio SMS backend needs LOCKPOST_SMS_FROM or a messaging service SID")
        self.retries = int(retries if retries is not None else _setting("LOCKPOST_SMS_RETRIES", 3))
        self.backoff = float(backoff if backoff is not None else _setting("LOCKPOST_SMS_RETRY_BACKOFF", 1.0))
        http = TwilioHttpClient(timeout=float(timeout or _setting("LOCKPOST_SMS_TIMEOUT", 10)))
        self.client = Client(self.account_sid, auth_token, http_client=http)
        root = api_root or _setting("LOCKPOST_TWILIO_API_ROOT")
        if root:
            self.client.api.base_url = root.rstrip("/")

    def _create(self, to: str, body: str) -> str:
        fields = {"to": to, "body": body}
        if self.messaging_service_sid:
            fields["messaging_service_sid"] = self.messaging_service_sid
        else:
            fields["from_"] = self.from_number
        return self.client.messages.create(**fields).sid

    def send(self, to: str, body: str) -> str:
        attempt = 0
        while True:
            try:
                return self._create(to, body)
            except TwilioRestException as exc:
                if not (exc.status == 429 or exc.status >= 500):
                    # the number, never the body: the body carries a password
                    raise SmsPermanentError(
                        f"Twilio refused the SMS to {to}: HTTP {exc.status}, error {exc.code}: {exc.msg}",
                        status=exc.status,
                        code=exc.code,
                    ) from None
                reason = f"HTTP {exc.status}"
            except (requests.ConnectionError, requests.Timeout) as exc:
                reason = type(exc).__name__
            attempt += 1
            if attempt > self.retries:
                raise SmsTemporaryError(f"Twilio unavailable for the SMS to {to} after {attempt} tries: {reason}")
            delay = self.backoff * 2 ** (attempt - 1)
            log.warning("SMS to %s failed (%s); retry %d in %.1fs", to, reason, attempt, delay)
            time.sleep(delay)
