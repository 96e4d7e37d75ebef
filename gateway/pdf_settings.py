"""The PDF settings of one outgoing recipient's copy.

Outgoing mail follows the sender's settings (the organisation's policy), but
a PDF setting the admin set on the recipient's own domain or user wins: a
partner domain can have its static password, language or "always PDF". The
phone number is always the recipient's own."""

from dataclasses import dataclass, field

from gateway.policy.definitions import DEFINITIONS
from gateway.policy.resolver import recipient_wins

PDF_KEYS = tuple(key for key in DEFINITIONS if key.startswith("pdf_"))
# Values of pdf_password_mode.
STATIC, GENERATED, ONE_TIME = "static", "generated", "one_time"


@dataclass(frozen=True)
class PdfSettings:
    enabled: bool
    mode: str
    password_mode: str
    static_password: str = field(repr=False)  # never in a repr, hence never in a log line
    password_length: int
    validity_days: int
    delivery: str
    aes: int
    language: str
    reply_enabled: bool
    reply_days: int
    sms_trigger: str
    cover_text: str
    cover_html: str
    phone_number: str


def merged_values(rcpt):
    """{key: value} of the PDF keys and phone_number for this recipient."""
    values = {key: recipient_wins(rcpt.own_settings, rcpt.settings, key) for key in PDF_KEYS}
    values["phone_number"] = rcpt.own_settings["phone_number"].value
    return values


def pdf_settings(rcpt):
    v = merged_values(rcpt)
    return PdfSettings(
        enabled=bool(v["pdf_enabled"]),
        mode=v["pdf_mode"],
        password_mode=v["pdf_password_mode"],
        static_password=v["pdf_static_password"] or "",
        password_length=max(int(v["pdf_password_length"]), 6),
        validity_days=max(int(v["pdf_password_validity_days"]), 0),
        delivery=v["pdf_password_delivery"],
        aes=int(v["pdf_aes"]),
        language=v["pdf_language"],
        reply_enabled=bool(v["pdf_reply_enabled"]),
        reply_days=max(int(v["pdf_reply_validity_days"]), 1),
        sms_trigger=v["pdf_sms_trigger"] or "",
        cover_text=v["pdf_cover_text"] or "",
        cover_html=v["pdf_cover_html"] or "",
        phone_number=v["phone_number"] or "",
    )
