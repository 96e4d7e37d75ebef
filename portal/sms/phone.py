"""Phone numbers to E.164, the one form providers accept and rate limits key on."""

import phonenumbers

from .errors import InvalidPhoneNumber


def to_e164(number: str, default_region: str | None = None) -> str:
    """'+31 6 1234 5678', '0031612345678' or ('06-12345678', 'NL') -> '+31612345678'."""
    text = (number or "").strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        parsed = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(f"not a phone number: {number!r} ({exc})") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber(f"not a valid phone number: {number!r}")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
