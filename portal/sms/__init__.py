"""Sending SMS, through a backend chosen like Django's email backends:

    LOCKPOST_SMS_BACKEND = "portal.sms.backends.twilio.SmsBackend"   # or .console / .filebased / .locmem

    from portal.sms import send_password_sms
    send_password_sms("+31 6 12345678", password, language="nl")

Numbers are normalised to E.164, counted against a per-number rate limit,
and texts come from templates (sms/<name>_<language>.txt)."""

from django.conf import settings
from django.template.loader import select_template
from django.utils.module_loading import import_string

from .errors import InvalidPhoneNumber, SmsError, SmsPermanentError, SmsRateLimited, SmsTemporaryError
from .phone import to_e164
from .ratelimit import check_and_count

DEFAULT_BACKEND = "portal.sms.backends.console.SmsBackend"

__all__ = [
    "InvalidPhoneNumber",
    "SmsError",
    "SmsPermanentError",
    "SmsRateLimited",
    "SmsTemporaryError",
    "get_backend",
    "render_sms",
    "send_password_sms",
    "send_sms",
    "to_e164",
]


def get_backend(backend: str | None = None, **kwargs):
    path = backend or getattr(settings, "LOCKPOST_SMS_BACKEND", DEFAULT_BACKEND)
    return import_string(path)(**kwargs)


def send_sms(to: str, body: str, *, backend=None, default_region: str | None = None) -> str:
    """Send body to the number; returns the provider's id. Raises an SmsError
    subclass when it was not sent."""
    number = to_e164(to, default_region or getattr(settings, "LOCKPOST_SMS_DEFAULT_REGION", None))
    check_and_count(number)
    return (backend or get_backend()).send(number, body)


def render_sms(name: str, context: dict, language: str = "en") -> str:
    lang = (language or "en").split("-")[0].lower()
    template = select_template([f"sms/{name}_{lang}.txt", f"sms/{name}_en.txt"])
    return template.render(context).strip()


def send_password_sms(to: str, password: str, *, language: str = "en", subject: str = "", sender: str = "",
                      backend=None) -> str:  # fmt: skip
    body = render_sms("password", {"password": password, "subject": subject, "sender": sender}, language)
    return send_sms(to, body, backend=backend)
