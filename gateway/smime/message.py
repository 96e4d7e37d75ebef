"""S/MIME on whole messages: sign, encrypt, decrypt, verify, unwrap.

Each function takes and returns message bytes (RFC 5322). Header fields
outside Content-* stay outside the CMS layer; the Content-* fields and the
body form the entity that is signed or encrypted, byte for byte.
"""

import datetime
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cryptography import x509

from . import envelope, mime, signed
from ._asn1 import content_type_of
from .algorithms import (
    DEFAULT_CIPHER,
    DEFAULT_DIGEST,
    DEFAULT_KEY_TRANSPORT,
    MICALG,
    ContentCipher,
    Digest,
    KeyTransport,
    SignatureScheme,
)
from .errors import MalformedMessage
from .keys import Identity

SIGNED_TYPES = ("multipart/signed",)
PKCS7_MIME_TYPES = ("application/pkcs7-mime", "application/x-pkcs7-mime")


def sign_message(
    message: bytes,
    identity: Identity,
    *,
    detached: bool = True,
    digest: Digest | str = DEFAULT_DIGEST,
    scheme: SignatureScheme | str = SignatureScheme.RSA_PKCS1V15,
    signing_time: datetime.datetime | None = None,
) -> bytes:
    """Sign a message: multipart/signed (default) or opaque application/pkcs7-mime."""
    outer, entity = mime.inner_entity(message)
    der = signed.sign(entity, identity, detached=detached, digest=digest, scheme=scheme, signing_time=signing_time)
    if detached:
        return mime.multipart_signed(outer, entity, der, MICALG[Digest(digest).value])
    return mime.pkcs7_mime(outer, der, "signed-data")


def encrypt_message(
    message: bytes,
    certificates: Sequence[x509.Certificate],
    *,
    cipher: ContentCipher | str = DEFAULT_CIPHER,
    key_transport: KeyTransport | str = DEFAULT_KEY_TRANSPORT,
) -> bytes:
    """Encrypt a message to every certificate (include the sender's to let them read their copy)."""
    outer, entity = mime.inner_entity(message)
    return _encrypt_entity(outer, entity, certificates, cipher=cipher, key_transport=key_transport)


def _encrypt_entity(
    outer: bytes, entity: bytes, certificates, *, cipher=DEFAULT_CIPHER, key_transport=DEFAULT_KEY_TRANSPORT
):
    der = envelope.encrypt(entity, certificates, cipher=cipher, key_transport=key_transport)
    smime_type = "authEnveloped-data" if ContentCipher(cipher).authenticated else "enveloped-data"
    return mime.pkcs7_mime(outer, der, smime_type)


def sign_and_encrypt_message(
    message: bytes, identity: Identity, certificates: Sequence[x509.Certificate], **options
) -> bytes:
    """Sign, then encrypt the signed message (RFC 8551 3.7): what clients call signed and encrypted."""
    sign_opts = {k: options.pop(k) for k in ("detached", "digest", "scheme", "signing_time") if k in options}
    if not sign_opts.get("detached", True):
        return encrypt_message(sign_message(message, identity, **sign_opts), certificates, **options)
    outer, entity = mime.inner_entity(message)
    if not _one_header_block(outer):
        return encrypt_message(sign_message(message, identity, **sign_opts), certificates, **options)
    # Splitting the signed message again would give back exactly these outer fields and the
    # multipart/signed entity: encrypt that entity straight away (saves a pass over a large body).
    digest = sign_opts.get("digest", DEFAULT_DIGEST)
    der = signed.sign(entity, identity, **sign_opts)
    signed_entity = mime.multipart_signed_entity(entity, der, MICALG[Digest(digest).value])
    return _encrypt_entity(outer, signed_entity, certificates, **options)


def _one_header_block(outer: bytes) -> bool:
    # Canonical outer fields hold a blank line only when the original had a stray CR in
    # its header (CR CR LF); split again, such a message would divide differently.
    return not outer.startswith(mime.CRLF) and b"\n\r\n" not in outer


# ---------------------------------------------------------------- reading


def kind_of(message: bytes) -> str | None:
    """'signed' (multipart/signed), 'signed-data', 'enveloped-data', 'authEnveloped-data', or None."""
    return _kind(mime.Entity.parse(message))


def _kind(entity: mime.Entity) -> str | None:
    # Takes the parsed entity: callers below parse each message once.
    ctype = entity.content_type
    if ctype in SIGNED_TYPES:
        protocol = (entity.param("protocol") or "").lower()
        return "signed" if protocol in ("application/pkcs7-signature", "application/x-pkcs7-signature") else None
    name = (entity.param("name") or "").lower()
    if ctype in PKCS7_MIME_TYPES or (ctype == "application/octet-stream" and name.endswith(".p7m")):
        smime_type = (entity.param("smime-type") or "").lower()
        known = {"enveloped-data": "enveloped-data", "authenveloped-data": "authEnveloped-data"}
        if smime_type in known or smime_type == "signed-data":
            return known.get(smime_type, "signed-data")
        # No (or an odd) smime-type: ask the CMS itself.
        return {
            "enveloped_data": "enveloped-data",
            "authenticated_enveloped_data": "authEnveloped-data",
            "signed_data": "signed-data",
        }.get(content_type_of(entity.decoded_body()))
    return None


@dataclass(frozen=True)
class DecryptedMessage:
    message: bytes  # outer header fields + the decrypted entity
    entity: bytes  # the decrypted entity alone, exactly as it came out
    details: envelope.Decrypted


def decrypt_message(message: bytes, identities: Iterable[Identity]) -> DecryptedMessage:
    return _decrypt(mime.Entity.parse(message), identities)


def _decrypt(entity: mime.Entity, identities: Iterable[Identity]) -> DecryptedMessage:
    if _kind(entity) not in ("enveloped-data", "authEnveloped-data"):
        raise MalformedMessage(f"not an S/MIME encrypted message ({entity.content_type})")
    result = envelope.decrypt(entity.decoded_body(), identities)
    _, outer = entity.split_content_headers()
    inner = mime.canonicalize(result.content)
    return DecryptedMessage(mime.join(mime.canonicalize(outer), inner), result.content, result)


@dataclass(frozen=True)
class VerifiedMessage:
    message: bytes  # outer header fields + the signed entity (the signature layer removed)
    entity: bytes  # the exact signed entity
    verification: signed.Verification


def verify_message(
    message: bytes,
    *,
    trust_roots: Sequence[x509.Certificate] | None = None,
    intermediates: Sequence[x509.Certificate] = (),
    at: datetime.datetime | None = None,
) -> VerifiedMessage:
    """Verify a multipart/signed or opaque signed message; the verdict is in ``verification``."""
    return _verify(mime.Entity.parse(message), trust_roots=trust_roots, intermediates=intermediates, at=at)


def _verify(entity: mime.Entity, *, trust_roots, intermediates, at) -> VerifiedMessage:
    kind = _kind(entity)
    options = {"trust_roots": trust_roots, "intermediates": intermediates, "at": at}
    if kind == "signed":
        parts = mime.slice_multipart_signed(entity)
        result = signed.verify(parts.signature, parts.signed, **options)
    elif kind == "signed-data":
        result = signed.verify(entity.decoded_body(), **options)
    else:
        raise MalformedMessage(f"not an S/MIME signed message ({entity.content_type})")
    _, outer = entity.split_content_headers()
    return VerifiedMessage(mime.join(mime.canonicalize(outer), result.content), result.content, result)


@dataclass
class Unwrapped:
    """Every S/MIME layer peeled off a message, outermost first."""

    message: bytes
    layers: list[DecryptedMessage | VerifiedMessage] = field(default_factory=list)

    @property
    def decrypted(self) -> DecryptedMessage | None:
        return next((x for x in self.layers if isinstance(x, DecryptedMessage)), None)

    @property
    def verified(self) -> VerifiedMessage | None:
        return next((x for x in self.layers if isinstance(x, VerifiedMessage)), None)


def unwrap(
    message: bytes,
    identities: Iterable[Identity] = (),
    *,
    trust_roots: Sequence[x509.Certificate] | None = None,
    intermediates: Sequence[x509.Certificate] = (),
    at: datetime.datetime | None = None,
    max_depth: int = 4,
) -> Unwrapped:
    """Decrypt and verify layer after layer (signed-then-encrypted, triple-wrapped...).

    Decryption errors raise (``NoMatchingRecipient``, ``DecryptionFailed``,
    ``MalformedCms``); signature problems are verdicts in the layers.
    """
    identities = list(identities)
    result = Unwrapped(message)
    for _ in range(max_depth):
        entity = mime.Entity.parse(result.message)
        kind = _kind(entity)
        if kind in ("enveloped-data", "authEnveloped-data"):
            layer = _decrypt(entity, identities)
        elif kind in ("signed", "signed-data"):
            layer = _verify(entity, trust_roots=trust_roots, intermediates=intermediates, at=at)
        else:
            break
        result.layers.append(layer)
        result.message = layer.message
    return result
