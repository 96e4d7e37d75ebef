"""Password protection with pikepdf: AES-256 (revision 6) by default,
AES-128 (revision 4) for old readers. The owner password is random and
thrown away: nobody needs to lift the permissions later."""

import secrets
from collections.abc import Mapping

import pikepdf

# What the recipient may do once the PDF is open: read, print, copy text;
# not edit. Keys are pikepdf.Permissions fields.
DEFAULT_PERMISSIONS = {
    "accessibility": True,
    "extract": True,
    "print_lowres": True,
    "print_highres": True,
    "modify_annotation": False,
    "modify_assembly": False,
    "modify_form": False,
    "modify_other": False,
}


def encryption(user_password: str, aes: int = 256, permissions: Mapping[str, bool] | None = None) -> pikepdf.Encryption:
    if not user_password:
        raise ValueError("an encrypted PDF needs a non-empty user password")
    if aes not in (128, 256):
        raise ValueError(f"aes must be 128 or 256, not {aes!r}")
    allowed = {**DEFAULT_PERMISSIONS, **(permissions or {})}
    unknown = set(allowed) - set(DEFAULT_PERMISSIONS)
    if unknown:
        raise ValueError(f"unknown PDF permission(s): {', '.join(sorted(unknown))}")
    return pikepdf.Encryption(
        owner=secrets.token_urlsafe(32),
        user=user_password,
        R=6 if aes == 256 else 4,
        aes=True,
        metadata=True,  # the title is the subject: encrypt it too
        allow=pikepdf.Permissions(**allowed),
    )


def encrypt_pdf(
    pdf_bytes: bytes, user_password: str, aes: int = 256, permissions: Mapping[str, bool] | None = None
) -> bytes:
    """Encrypt an existing PDF. build.encrypted_message_pdf does render, attach
    and encrypt in one pass; this is for PDFs made elsewhere."""
    import io

    with pikepdf.open(io.BytesIO(pdf_bytes)) as pdf:
        out = io.BytesIO()
        pdf.save(out, encryption=encryption(user_password, aes, permissions))
        return out.getvalue()
