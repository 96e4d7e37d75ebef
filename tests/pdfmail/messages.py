"""Test messages, built the way mail clients build them."""

import base64
import email.policy
import os
from email.message import EmailMessage

# A 4x4 red PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAQAAAAECAIAAAAmkwkpAAAAEklEQVR4nGP4z8CAB+GTG8HSALfKY52fOtQ/AAAAAElFTkSuQmCC"
)


def message(subject="Quarterly figures", text=None, html=None, sender="Ann Smith <ann@example.com>",
            to="bob@example.org", cc=None) -> EmailMessage:  # fmt: skip
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = sender
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Date"] = "Tue, 03 Nov 2026 10:00:00 +0100"
    msg["Subject"] = subject
    msg["Message-ID"] = "<abc.123@example.com>"
    if text is not None:
        msg.set_content(text)
    if html is not None:
        if text is None:
            msg.set_content(html, subtype="html")
        else:
            msg.add_alternative(html, subtype="html")
    return msg


def html_part(msg: EmailMessage) -> EmailMessage:
    return msg.get_body(preferencelist=("html",))


def add_inline_image(msg: EmailMessage, cid="logo@example.com", data=PNG) -> None:
    html_part(msg).add_related(data, "image", "png", cid=f"<{cid}>")


def add_file(msg: EmailMessage, filename: str, data: bytes, ctype="application/octet-stream") -> None:
    maintype, subtype = ctype.split("/")
    msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)


def random_bytes(n: int) -> bytes:
    return os.urandom(n)
