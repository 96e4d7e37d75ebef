"""Open an S/MIME message layer by layer (decrypt, verify) and say what was
found, as plain values: the codec never raises out of here, so a broken CMS
structure or a wrong key is a verdict, never a lost message. Pure: keys,
trust roots and the time come from the caller."""

from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from gateway.smime import decrypt_message, kind_of, verify_message
from gateway.smime.errors import NoMatchingRecipient

ENCRYPTED = ("enveloped-data", "authEnveloped-data")
SIGNED = ("signed", "signed-data")


@dataclass
class Opened:
    message: bytes  # what goes on: decrypted, and unsigned if asked and valid
    decrypted: object = None  # gateway.smime.DecryptedMessage
    decrypt_problem: str = ""
    encrypted: bool = False
    verified: object = None  # gateway.smime.VerifiedMessage
    verify_problem: str = ""
    signed: bool = False
    signature_removed: bool = False
    certificates: list = field(default_factory=list)  # DER seen in signatures


def open_message(raw, identities, *, trust_roots, intermediates, at, remove_signature=False, max_depth=4):
    result = Opened(raw)
    current = raw
    for _ in range(max_depth):
        kind = kind_or_none(current)
        if kind in ENCRYPTED:
            result.encrypted = True
            try:
                layer = decrypt_message(current, identities)
            except NoMatchingRecipient:
                result.decrypt_problem = "no key: none of the keys held here is a recipient"
                break
            except Exception as error:  # a broken CMS is a verdict, not a crash
                result.decrypt_problem = f"{_name(error)}: {error}"
                break
            result.decrypted = layer
            current = result.message = layer.message
        elif kind in SIGNED:
            result.signed = True
            try:
                layer = verify_message(current, trust_roots=trust_roots, intermediates=intermediates, at=at)
            except Exception as error:
                result.verify_problem = f"{_name(error)}: {error}"
                break
            result.verified = layer
            result.certificates += [c.public_bytes(Encoding.DER) for c in layer.verification.certificates]
            if remove_signature and layer.verification.verdict == "valid":
                result.message = layer.message
                result.signature_removed = True
            current = layer.message
        else:
            break
    return result


def kind_or_none(message):
    """kind_of, or None for anything it cannot read."""
    try:
        return kind_of(message)
    except Exception:
        return None


KIND_KEY = "smime:kind"  # ctx.decided: (the bytes, their kind)


def kind_for(ctx):
    """kind_or_none of the message as it is now in the pipeline, worked out
    once for each version of its bytes (handlers that replace ctx.raw make a
    new one)."""
    known = ctx.decided.get(KIND_KEY)
    if known is None or known[0] is not ctx.raw:
        known = ctx.decided[KIND_KEY] = (ctx.raw, kind_or_none(ctx.raw))
    return known[1]


def _name(error):
    return type(error).__name__


def describe_certificate(cert):
    """ "CN (email), sha256 0123456789abcdef" for headers and the trail."""
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    name = cn[0].value if cn else cert.subject.rfc4514_string()
    emails = signer_emails(cert)
    who = f"{name} <{emails[0]}>" if emails else name
    return f"{who}, sha256 {cert.fingerprint(hashes.SHA256()).hex()[:16]}"


def signer_emails(cert):
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        found = san.get_values_for_type(x509.RFC822Name)
    except x509.ExtensionNotFound:
        found = []
    found += [a.value for a in cert.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)]
    return found


def info_headers(opened):
    """[(name, value)]: the X-Lockpost-Info-* headers for what was found."""
    out = []
    if opened.encrypted:
        if opened.decrypted is not None:
            d = opened.decrypted.details
            out.append(("X-Lockpost-Info-Encryption", f"decrypted; {d.cipher}; {d.key_encryption}"))
            out.append(("X-Lockpost-Info-Decryption-Key", describe_certificate(d.identity.certificate)))
        else:
            out.append(("X-Lockpost-Info-Encryption", f"not decrypted: {opened.decrypt_problem}"))
            out.append(("X-Lockpost-Info-Decryption-Key", "no key"))
    if opened.signed and opened.verified is None:
        out.append(("X-Lockpost-Info-Signature", f"not checked: {opened.verify_problem}"))
    elif opened.verified is not None:
        v = opened.verified.verification
        signer = v.signers[0] if v.signers else None
        if signer is None:
            out.append(("X-Lockpost-Info-Signature", "invalid: no signer"))
        else:
            if signer.certificate is not None:
                out.append(("X-Lockpost-Info-Signer", describe_certificate(signer.certificate)))
            valid = "valid" if signer.signature_valid else f"invalid: {signer.problem}"
            out.append(("X-Lockpost-Info-Signature", valid))
            trusted = "yes" if signer.trusted else f"no: {signer.trust_problem or 'not checked'}"
            out.append(("X-Lockpost-Info-Signer-Trusted", trusted))
            out.append(
                ("X-Lockpost-Info-Signature-Algorithms", f"{signer.digest_algorithm}; {signer.signature_algorithm}")
            )
        if opened.signature_removed:
            out.append(("X-Lockpost-Info-Signature-Removed", "yes"))
    return out
