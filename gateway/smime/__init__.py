"""S/MIME codec: CMS (RFC 5652) and S/MIME 4.0 (RFC 8551) over plain bytes.

Message level (``message``): sign, encrypt, decrypt, verify, unwrap whole
messages. CMS level (``envelope``, ``signed``): DER in, DER out. No ORM, no
settings: callers pass certificates, identities and trust roots.
"""

from .algorithms import ContentCipher, Digest, KeyTransport, SignatureScheme
from .envelope import Decrypted, decrypt, encrypt
from .errors import (
    DecryptionFailed,
    MalformedCms,
    MalformedMessage,
    NoMatchingRecipient,
    SignatureInvalid,
    SignerNotTrusted,
    SmimeError,
    UnsupportedAlgorithm,
)
from .keys import Identity, load_pkcs12
from .message import (
    DecryptedMessage,
    Unwrapped,
    VerifiedMessage,
    decrypt_message,
    encrypt_message,
    kind_of,
    sign_and_encrypt_message,
    sign_message,
    unwrap,
    verify_message,
)
from .signed import SignerResult, Verification, sign, verify

__all__ = [
    "ContentCipher",
    "Decrypted",
    "DecryptedMessage",
    "DecryptionFailed",
    "Digest",
    "Identity",
    "KeyTransport",
    "MalformedCms",
    "MalformedMessage",
    "NoMatchingRecipient",
    "SignatureInvalid",
    "SignatureScheme",
    "SignerNotTrusted",
    "SignerResult",
    "SmimeError",
    "UnsupportedAlgorithm",
    "Unwrapped",
    "Verification",
    "VerifiedMessage",
    "decrypt",
    "decrypt_message",
    "encrypt",
    "encrypt_message",
    "kind_of",
    "load_pkcs12",
    "sign",
    "sign_and_encrypt_message",
    "sign_message",
    "unwrap",
    "verify",
    "verify_message",
]
