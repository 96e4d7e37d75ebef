"""Message to password-protected PDF: a pure engine (plain values in and out,
no database). The pipeline calls it in a few lines:

    from gateway.pdfmail import encrypted_message_pdf, build_cover_message, generate_password
    password = generate_password()
    pdf = encrypted_message_pdf(raw, password, reply_url=url, language="de")
    cover = build_cover_message(raw, pdf, language="de", password_via="sms")
"""

from .build import encrypted_message_pdf, render_message_pdf
from .cover import build_cover_message
from .encrypt import DEFAULT_PERMISSIONS, encrypt_pdf
from .passwords import UNAMBIGUOUS, generate_password, one_time_password

__all__ = [
    "DEFAULT_PERMISSIONS",
    "UNAMBIGUOUS",
    "build_cover_message",
    "encrypt_pdf",
    "encrypted_message_pdf",
    "generate_password",
    "one_time_password",
    "render_message_pdf",
]
