"""The S/MIME settings of one recipient's copy, as plain values.

Outgoing mail follows the sender's settings (the organisation's policy), but
what the recipient's software must read (cipher, key transport) is theirs
when an admin set it on the recipient's own domain or user, and either side
may demand encryption: the stricter encryption mode wins."""

from dataclasses import dataclass

from gateway.policy.resolver import recipient_wins, set_for_recipient
from gateway.smime import ContentCipher, Digest, KeyTransport, SignatureScheme

MODES = ("never", "allow", "if_possible", "mandatory")
PEER_KEYS = ("encryption_algorithm", "key_transport")
KEY_TRANSPORTS = {"rsa-pkcs1v15": KeyTransport.RSA_PKCS1V15, "rsa-oaep": KeyTransport.RSA_OAEP_SHA256}
SCHEMES = {"rsa-pkcs1v15": SignatureScheme.RSA_PKCS1V15, "rsa-pss": SignatureScheme.RSA_PSS}


@dataclass(frozen=True)
class SmimeOptions:
    encryption_mode: str
    signing_mode: str
    cipher: ContentCipher
    key_transport: KeyTransport
    digest: Digest
    scheme: SignatureScheme
    header_protection: bool
    subject_trigger: str
    header_trigger: str
    fallback: str
    encrypt_to_sender: bool
    sender_notification: bool


def stricter(a, b):
    return MODES[max(MODES.index(a), MODES.index(b))]


def merged_values(rcpt):
    """{key: value} for an outgoing recipient: the sender's (rcpt.settings),
    with the recipient's own levels winning where they speak for the peer."""
    own = rcpt.own_settings
    values = {key: effective.value for key, effective in rcpt.settings.items()}
    for key in PEER_KEYS:
        values[key] = recipient_wins(own, rcpt.settings, key)
    if set_for_recipient(own, "encryption_mode"):
        values["encryption_mode"] = stricter(values["encryption_mode"], own["encryption_mode"].value)
    return values


def options_from(values):
    return SmimeOptions(
        encryption_mode=values["encryption_mode"],
        signing_mode=values["signing_mode"],
        cipher=ContentCipher(values["encryption_algorithm"].replace("-", "_")),
        key_transport=KEY_TRANSPORTS[values["key_transport"]],
        digest=Digest(values["digest"]),
        scheme=SCHEMES[values["signature_scheme"]],
        header_protection=bool(values["header_protection"]),
        subject_trigger=(values["encrypt_subject_trigger"] or "").strip(),
        header_trigger=(values["encrypt_header_trigger"] or "").strip(),
        fallback=values["encryption_fallback"],
        encrypt_to_sender=bool(values["encrypt_to_sender"]),
        sender_notification=bool(values["sender_notification"]),
    )


def outgoing_options(rcpt):
    return options_from(merged_values(rcpt))
