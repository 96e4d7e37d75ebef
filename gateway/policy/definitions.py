"""Every setting Lockpost knows, with its factory default. Later capabilities
add theirs here; nothing else needs to change for them to inherit."""

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SettingDefinition:
    key: str
    default: object
    help: str
    choices: tuple = field(default=())
    kind: type = str
    # For free text: a regular expression the whole value must match (empty is always allowed).
    pattern: str = ""
    pattern_help: str = ""
    # A secret (a password): set and used, never shown back or printed.
    secret: bool = False

    def validate(self, value):
        """Return the value in its proper type, or raise ValueError."""
        if self.kind is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in {"true", "yes", "on", "1", "false", "no", "off", "0"}:
                return value.lower() in {"true", "yes", "on", "1"}
            raise ValueError(f"{self.key} takes true or false, not {value!r}")
        if self.kind is int:
            try:
                return int(value)
            except (TypeError, ValueError):
                raise ValueError(f"{self.key} takes a whole number, not {value!r}") from None
        value = "" if value is None else str(value)
        if self.choices and value not in self.choices:
            raise ValueError(f"{self.key} takes one of {', '.join(self.choices)}, not {value!r}")
        if self.pattern and value and not re.fullmatch(self.pattern, value):
            raise ValueError(f"{self.key} takes {self.pattern_help or self.pattern}, not {value!r}")
        return value


DEFINITIONS = {
    d.key: d
    for d in [
        SettingDefinition(
            "locality",
            "external",
            "Whether an address belongs to the organisation. Normally taken from the domain.",
            choices=("internal", "external"),
        ),
        SettingDefinition(
            "encryption_mode",
            "if_possible",
            "never: never encrypt; allow: only on a trigger; if_possible: when a certificate is "
            "usable; mandatory: encrypt or do not send.",
            choices=("never", "allow", "if_possible", "mandatory"),
        ),
        SettingDefinition(
            "signing_mode",
            "always",
            "Whether outgoing mail is signed with the sender's identity.",
            choices=("never", "if_possible", "always"),
        ),
        SettingDefinition(
            "encryption_algorithm",
            "aes256-cbc",
            "Content cipher for S/MIME encryption. GCM is read by fewer clients.",
            choices=("aes128-cbc", "aes192-cbc", "aes256-cbc", "aes128-gcm", "aes256-gcm"),
        ),
        SettingDefinition("pdf_enabled", False, "Send encrypted PDF to recipients without a certificate.", kind=bool),
        SettingDefinition(
            "pdf_password_mode",
            "generated",
            "How the PDF password is chosen: static (set by the admin), generated, or one-time (HMAC).",
            choices=("static", "generated", "one_time"),
        ),
        SettingDefinition(
            "phone_number",
            "",
            "Mobile number for passwords by SMS (E.164, e.g. +31612345678).",
            pattern=r"\+[1-9][0-9]{6,14}",
            pattern_help="a number in E.164 form such as +31612345678",
        ),
        # --- encrypted PDF (gateway.handlers.pdf_decide / pdf_encrypt) ---
        SettingDefinition(
            "pdf_mode",
            "fallback",
            "When PDF is enabled: never; fallback: only for recipients without a usable certificate; "
            "always: every outgoing recipient.",
            choices=("never", "fallback", "always"),
        ),
        SettingDefinition(
            "pdf_static_password",
            "",
            "The password of every PDF when the password mode is static (agreed with the recipient "
            "beforehand, never sent). Secret: keep it at a domain or user level.",
            secret=True,
        ),
        SettingDefinition("pdf_password_length", 12, "Length of generated and one-time PDF passwords.", kind=int),
        SettingDefinition(
            "pdf_password_validity_days",
            0,
            "Generated passwords: 0 makes a new one per message; N keeps one per recipient for N days "
            "(stored encrypted).",
            kind=int,
        ),
        SettingDefinition(
            "pdf_password_delivery",
            "sms",
            "How a generated or one-time PDF password reaches the recipient: sms (to their phone_number "
            "or the subject trigger's number) or sender (mailed to the sender, who passes it on).",
            choices=("sms", "sender"),
        ),
        SettingDefinition(
            "pdf_aes", "256", "PDF encryption: AES-256 (R6), or AES-128 (R4) for old readers.", choices=("256", "128")
        ),
        SettingDefinition(
            "pdf_language",
            "en",
            "Language of the PDF labels, the cover message and the SMS.",
            choices=("en", "nl", "de"),
        ),
        SettingDefinition("pdf_reply_enabled", True, "Put a Reply button (portal link) into the PDF.", kind=bool),
        SettingDefinition("pdf_reply_validity_days", 30, "How long the PDF's reply link stays valid.", kind=int),
        SettingDefinition(
            "pdf_sms_trigger",
            r"\[sms:\s*(\+?[0-9][0-9 ./()-]{5,24})\s*\]",
            "An RE2 expression found in the Subject: its first group is the phone number for this "
            "message's PDF passwords; the match is removed from the subject sent out. Empty: off.",
        ),
        SettingDefinition(
            "pdf_cover_text",
            "",
            "This level's own cover message (plain text), as a Django template; empty: the built-in one.",
        ),
        SettingDefinition(
            "pdf_cover_html", "", "This level's own cover message (HTML), as a Django template; empty: the built-in."
        ),
        SettingDefinition(
            "pdf_reply_limit", 5, "How many replies one PDF reply link may send (portal /reply/).", kind=int
        ),
        # --- the portal's secure inbox (gateway.handlers.portal_inbox, portal.services) ---
        SettingDefinition(
            "secure_delivery",
            "pdf",
            "How external recipients without a certificate get protected mail: pdf (an encrypted PDF, "
            "where PDF is enabled), or portal (kept in the portal's secure inbox; they get a link). "
            "Set on the recipient's domain or user, or on the sender's side.",
            choices=("pdf", "portal"),
        ),
        SettingDefinition(
            "portal_retention_days", 30, "Secure inbox messages are deleted after this many days.", kind=int
        ),
        SettingDefinition(
            "portal_read_receipt",
            False,
            "Tell the sender when the recipient first opens a secure inbox message.",
            kind=bool,
        ),
        # --- S/MIME (gateway.handlers.smime_decide / smime_outgoing / smime_incoming) ---
        # Defaults are what every peer reads (see the interop notes): RSA
        # PKCS#1 v1.5 key transport, SHA-256, detached PKCS#1 v1.5 signatures.
        SettingDefinition(
            "key_transport",
            "rsa-pkcs1v15",
            "How the content key reaches an RSA recipient. RSA-OAEP is read by OpenSSL but not by "
            "Thunderbird (NSS), gpgsm or Outlook: set it only for peers known to read it.",
            choices=("rsa-pkcs1v15", "rsa-oaep"),
        ),
        SettingDefinition("digest", "sha256", "Digest of S/MIME signatures.", choices=("sha256", "sha384", "sha512")),
        SettingDefinition(
            "signature_scheme",
            "rsa-pkcs1v15",
            "Signature scheme of RSA keys (EC keys always sign with ECDSA).",
            choices=("rsa-pkcs1v15", "rsa-pss"),
        ),
        SettingDefinition(
            "header_protection",
            False,
            "Protect Subject, From, To, Cc, Date and Message-ID inside the signature or encryption "
            "(RFC 9788); an encrypted message then shows the subject '[...]' outside. Clients without "
            "RFC 9788 support show the placeholder, hence off by default.",
            kind=bool,
        ),
        SettingDefinition(
            "encrypt_subject_trigger",
            "[encrypt]",
            "Text in the Subject that makes encryption mandatory for this message (removed from the "
            "subject sent out; case does not matter). Empty: off.",
        ),
        SettingDefinition(
            "encrypt_header_trigger",
            "X-Lockpost-Encrypt: yes",
            "A header field 'Name: value' that makes encryption mandatory for this message (removed "
            "before sending). Empty: off.",
            pattern=r"[!-9;-~]+:\s*\S.*",
            pattern_help="'Header-Name: value'",
        ),
        SettingDefinition(
            "encryption_fallback",
            "pdf",
            "What a recipient without a usable certificate gets when encryption is wanted: pdf (an "
            "encrypted PDF where PDF is enabled for them, otherwise plain), plain, or bounce. When "
            "encryption is mandatory (mode or trigger) it is never plain: PDF where possible, else bounce.",
            choices=("pdf", "plain", "bounce"),
        ),
        SettingDefinition(
            "strict_decryption",
            True,
            "Decrypt incoming mail only with keys tied to that recipient (or to their domain), so one "
            "user's key never opens mail delivered to another. Off: any key the gateway holds.",
            kind=bool,
        ),
        SettingDefinition(
            "remove_signature",
            False,
            "Incoming: remove a valid S/MIME signature layer after checking it (the verdict stays in the "
            "X-Lockpost-Info headers). An invalid or untrusted signature is always kept.",
            kind=bool,
        ),
        SettingDefinition(
            "add_info_headers",
            True,
            "Incoming: add X-Lockpost-Info-* headers saying what was decrypted and whether the signature "
            "is valid and trusted. Such headers from senders are always removed.",
            kind=bool,
        ),
        SettingDefinition(
            "encrypt_to_sender",
            True,
            "Also encrypt to the sender's own certificate (as Outlook and Thunderbird do), so bounces "
            "and archived copies stay readable to them.",
            kind=bool,
        ),
        SettingDefinition(
            "decrypt_outgoing",
            False,
            "Decrypt outgoing mail the sender's client encrypted, with the sender's key held here (for "
            "scanning), and re-encrypt it on the way out; encryption is then mandatory for it.",
            kind=bool,
        ),
        SettingDefinition("dlp_enabled", True, "Scan outgoing mail for data leaks.", kind=bool),
        # --- data leak prevention (gateway.handlers.dlp_scan / dlp_enforce, dlp.services) ---
        SettingDefinition(
            "dlp_managers",
            "",
            "DLP managers of the sender's domain: addresses told of every DLP finding, who may view, "
            "release or delete the domain's quarantined mail. Comma-separated.",
            pattern=r"[^@\s,]+@[^@\s,]+(\s*,\s*[^@\s,]+@[^@\s,]+)*",
            pattern_help="email addresses separated by commas",
        ),
        SettingDefinition(
            "dlp_sender_may_release",
            False,
            "Senders may view, release and delete their own quarantined messages.",
            kind=bool,
        ),
        SettingDefinition(
            "dlp_unscannable_action",
            "quarantine",
            "What happens to mail with a part the DLP scanner cannot read (corrupt, encrypted, over a limit).",
            choices=("warn", "force_encrypt", "quarantine", "block"),
        ),
        SettingDefinition(
            "dlp_delay_evaluation",
            False,
            "Apply the DLP verdict after the encryption decision: recipients whose copy leaves "
            "encrypted (S/MIME or PDF) only get a warning.",
            kind=bool,
        ),
        SettingDefinition(
            "dlp_quarantine_days", 30, "Quarantined messages are deleted after this many days.", kind=int
        ),
        SettingDefinition("dlp_language", "en", "Language of DLP notifications.", choices=("en", "nl", "de")),
        SettingDefinition(
            "sender_notification", False, "Tell the sender how each recipient's copy was protected.", kind=bool
        ),
    ]
}


def definition(key):
    try:
        return DEFINITIONS[key]
    except KeyError:
        known = ", ".join(sorted(DEFINITIONS))
        raise KeyError(f"unknown setting {key!r}; known settings: {known}") from None
