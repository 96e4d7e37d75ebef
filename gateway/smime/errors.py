"""What can go wrong in the S/MIME codec, as exception types a caller can tell apart.

Every failure the codec knows about is a ``SmimeError``; anything else
escaping it is a bug. Messages are written for the trail the admin reads.
"""


class SmimeError(Exception):
    """Base of every error the S/MIME codec raises on purpose."""


class MalformedMessage(SmimeError):
    """The MIME structure is not what S/MIME requires (missing part, boundary, body)."""


class MalformedCms(SmimeError):
    """The CMS (PKCS#7) bytes are truncated, garbage, or not the expected structure."""


class UnsupportedAlgorithm(SmimeError):
    """The message uses an algorithm or structure the codec does not implement."""


class NoMatchingRecipient(SmimeError):
    """None of the message's recipients is one of the keys we hold."""


class DecryptionFailed(SmimeError):
    """A recipient matched our key but the content key or the content did not decrypt."""


class SignatureInvalid(SmimeError):
    """The signature does not match the signed bytes (tampered, or a wrong key)."""


class SignerNotTrusted(SmimeError):
    """The signature is sound but its certificate does not chain to a trusted root for S/MIME."""
