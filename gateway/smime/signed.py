"""SignedData (RFC 5652, S/MIME 4.0 RFC 8551): sign and verify exact bytes.

``sign`` returns DER; ``verify`` checks the signature math of every signer
over the bytes given (never re-encoded) and reports what it found. Whether
the signer is trusted is a separate question answered by ``ca.validation``;
``verify`` asks it when trust roots are given.
"""

import datetime
import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from asn1crypto import algos, cms, core
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from ._asn1 import (
    der_explicit,
    der_implicit,
    der_octet_string,
    der_sequence,
    der_set_of,
    der_small_int,
    der_tlv,
    guarded,
    load_content_info,
)
from .algorithms import DEFAULT_DIGEST, Digest, SignatureScheme, hash_for
from .errors import MalformedCms, SignatureInvalid, SignerNotTrusted, UnsupportedAlgorithm
from .keys import (
    Identity,
    facts,
    issuer_and_serial,
    load_certificate,
    matches_issuer_and_serial,
    subject_key_identifier,
    to_asn1,
)

# What we tell correspondents we can read, strongest first (RFC 8551 2.5.2).
SMIME_CAPABILITIES = ("aes256_gcm", "aes128_gcm", "aes256_cbc", "aes192_cbc", "aes128_cbc", "tripledes_3key")


@functools.cache
def _capabilities_attribute() -> bytes:
    # Encoded once: asn1crypto takes milliseconds to build this from values.
    caps = [{"capability_id": name} for name in SMIME_CAPABILITIES]
    return cms.CMSAttribute({"type": "smime_capabilities", "values": [caps]}).dump()


# Constant pieces, encoded by asn1crypto once; ``sign`` assembles the rest by hand.


@functools.cache
def _oid(content_type: str) -> bytes:
    return cms.ContentType(content_type).dump()


@functools.cache
def _attribute_type(name: str) -> bytes:
    return cms.CMSAttributeType(name).dump()


@functools.cache
def _content_type_attribute() -> bytes:
    return cms.CMSAttribute({"type": "content_type", "values": ["data"]}).dump()


@functools.lru_cache(maxsize=256)
def _key_preference_attribute(cert: x509.Certificate) -> bytes:
    # RFC 8551 2.5.3: tells the reader which certificate to encrypt to.
    a = to_asn1(cert)
    ias = cms.IssuerAndSerialNumber({"issuer": a.issuer, "serial_number": a.serial_number})
    value = cms.SMIMEEncryptionKeyPreference(name="issuer_and_serial_number", value=ias)
    return cms.CMSAttribute({"type": "encrypt_key_pref", "values": [value]}).dump()


@functools.cache
def _digest_algorithm(digest: Digest) -> bytes:
    return algos.DigestAlgorithm({"algorithm": digest.value}).dump()


@functools.cache
def _signature_algorithm(is_ec: bool, digest: Digest, scheme: SignatureScheme) -> bytes:
    if is_ec:
        return algos.SignedDigestAlgorithm({"algorithm": f"{digest.value}_ecdsa"}).dump()
    if scheme == SignatureScheme.RSA_PSS:
        h = {"algorithm": digest.value}
        params = algos.RSASSAPSSParams(
            {
                "hash_algorithm": h,
                "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": h},
                "salt_length": hash_for(digest.value).digest_size,
            }
        )
        return algos.SignedDigestAlgorithm({"algorithm": "rsassa_pss", "parameters": params}).dump()
    # Like OpenSSL and Outlook: rsaEncryption, the digest named beside it.
    return algos.SignedDigestAlgorithm({"algorithm": "rsassa_pkcs1v15"}).dump()


# ---------------------------------------------------------------- signing


def _is_ec(identity: Identity) -> bool:
    return isinstance(identity.certificate.public_key(), ec.EllipticCurvePublicKey)


def _sign_bytes(identity: Identity, data: bytes, digest: Digest, scheme: SignatureScheme) -> bytes:
    h = hash_for(digest.value)
    if _is_ec(identity):
        return identity.key.sign(data, ec.ECDSA(h))
    if scheme == SignatureScheme.RSA_PSS:
        return identity.key.sign(data, padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size), h)
    return identity.key.sign(data, padding.PKCS1v15(), h)


def _time(when: datetime.datetime) -> bytes:
    # RFC 5652 11.3: UTCTime for 1950-2049, GeneralizedTime beyond (whole seconds, UTC).
    if 1950 <= when.year < 2050:
        return der_tlv(0x17, when.strftime("%y%m%d%H%M%SZ").encode())
    return der_tlv(0x18, when.strftime("%Y%m%d%H%M%SZ").encode())


def _signed_attributes(content: bytes, identity: Identity, digest: Digest, when: datetime.datetime) -> bytes:
    """The signed attributes as the DER SET OF that the signature covers."""
    return der_set_of(
        [
            _content_type_attribute(),
            der_sequence(_attribute_type("signing_time"), der_set_of([_time(when)])),
            der_sequence(
                _attribute_type("message_digest"),
                der_set_of([der_octet_string(hashlib.new(digest.value, content).digest())]),
            ),
            _capabilities_attribute(),
            _key_preference_attribute(identity.certificate),
        ]
    )


def sign(
    content: bytes,
    identity: Identity,
    *,
    detached: bool = True,
    digest: Digest | str = DEFAULT_DIGEST,
    scheme: SignatureScheme | str = SignatureScheme.RSA_PKCS1V15,
    signing_time: datetime.datetime | None = None,
    include_chain: bool = True,
) -> bytes:
    """Sign ``content`` exactly as given; return DER ContentInfo(SignedData)."""
    digest = Digest(digest)
    scheme = SignatureScheme(scheme)
    when = (signing_time or datetime.datetime.now(datetime.UTC)).astimezone(datetime.UTC).replace(microsecond=0)
    certs = [identity.certificate, *(identity.chain if include_chain else ())]
    to_sign = _signed_attributes(content, identity, digest, when)
    signer = der_sequence(
        der_small_int(1),  # v1: the signer named by issuer and serial number
        issuer_and_serial(identity.certificate),
        _digest_algorithm(digest),
        der_implicit(0, to_sign, constructed=True),
        _signature_algorithm(_is_ec(identity), digest, scheme),
        der_octet_string(_sign_bytes(identity, to_sign, digest, scheme)),
    )
    encap = [_oid("data")]
    if not detached:
        encap.append(der_explicit(0, der_octet_string(content)))
    body = der_sequence(
        der_small_int(1),
        der_set_of([_digest_algorithm(digest)]),
        der_sequence(*encap),
        der_implicit(0, der_set_of([facts(c).der for c in certs]), constructed=True),
        der_set_of([signer]),
    )
    return der_sequence(_oid("signed_data"), der_explicit(0, body))


# ---------------------------------------------------------------- verifying


@dataclass
class SignerResult:
    """One SignerInfo: the math verdict, and (when asked) the trust verdict."""

    certificate: x509.Certificate | None
    digest_algorithm: str
    signature_algorithm: str
    signing_time: datetime.datetime | None
    signature_valid: bool
    problem: str | None = None
    trusted: bool | None = None  # None: trust not checked
    trust_problem: str | None = None
    path: list[x509.Certificate] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """'valid' (sound and trusted), 'untrusted' (sound, trust failed or unchecked) or 'invalid'."""
        if not self.signature_valid:
            return "invalid"
        return "valid" if self.trusted else "untrusted"


@dataclass
class Verification:
    content: bytes  # the signed bytes (for opaque signatures: the encapsulated content)
    detached: bool
    certificates: list[x509.Certificate]
    signers: list[SignerResult]

    @property
    def signer(self) -> SignerResult:
        return self.signers[0]

    @property
    def signature_valid(self) -> bool:
        return bool(self.signers) and all(s.signature_valid for s in self.signers)

    @property
    def verdict(self) -> str:
        verdicts = {s.verdict for s in self.signers} or {"invalid"}
        for worst in ("invalid", "untrusted"):
            if worst in verdicts:
                return worst
        return "valid"

    def raise_for_verdict(self, *, require_trust: bool = True) -> None:
        """Raise ``SignatureInvalid`` or ``SignerNotTrusted`` unless the verdict is good."""
        for s in self.signers or [None]:
            if s is None:
                raise SignatureInvalid("the message has no signer")
            if not s.signature_valid:
                raise SignatureInvalid(s.problem or "signature does not verify")
            if require_trust and not s.trusted:
                raise SignerNotTrusted(s.trust_problem or "signer trust was not checked")


def _find_signer_cert(sid: cms.SignerIdentifier, certs: list[x509.Certificate]) -> x509.Certificate | None:
    for cert in certs:
        if sid.name == "issuer_and_serial_number":
            if matches_issuer_and_serial(sid.chosen, cert):
                return cert
        elif subject_key_identifier(cert) == sid.chosen.native:
            return cert
    return None


def _check_signature(public, signature: bytes, data: bytes, sig_alg: algos.SignedDigestAlgorithm, digest: str) -> None:
    algo = sig_alg.signature_algo
    if algo == "rsassa_pss":
        params = sig_alg["parameters"]
        h = hash_for(params["hash_algorithm"]["algorithm"].native)
        mgf_hash = hash_for(params["mask_gen_algorithm"]["parameters"]["algorithm"].native)
        salt = params["salt_length"].native
        if not isinstance(public, rsa.RSAPublicKey):
            raise UnsupportedAlgorithm("RSA-PSS signature from a non-RSA key")
        public.verify(signature, data, padding.PSS(mgf=padding.MGF1(mgf_hash), salt_length=salt), h)
        return
    # For combined OIDs (sha256WithRSAEncryption...) asn1crypto names the hash; else the digest alg does.
    try:
        h = hash_for(sig_alg.hash_algo)
    except (ValueError, UnsupportedAlgorithm):
        h = hash_for(digest)
    if algo == "rsassa_pkcs1v15" and isinstance(public, rsa.RSAPublicKey):
        public.verify(signature, data, padding.PKCS1v15(), h)
    elif algo == "ecdsa" and isinstance(public, ec.EllipticCurvePublicKey):
        public.verify(signature, data, ec.ECDSA(h))
    else:
        raise UnsupportedAlgorithm(f"signature algorithm {sig_alg['algorithm'].native} with this key")


def _signing_time(attrs: cms.CMSAttributes) -> datetime.datetime | None:
    for attr in attrs:
        if attr["type"].native == "signing_time":
            return attr["values"][0].native
    return None


def _verify_signer(si: cms.SignerInfo, content: bytes, econtent_type: str, certs) -> SignerResult:
    digest = si["digest_algorithm"]["algorithm"].native
    sig_alg = si["signature_algorithm"]
    cert = _find_signer_cert(si["sid"], certs)
    result = SignerResult(
        certificate=cert,
        digest_algorithm=digest,
        signature_algorithm=sig_alg["algorithm"].native,
        signing_time=None,
        signature_valid=False,
    )
    if cert is None:
        result.problem = "the signer's certificate is not in the message"
        return result
    if digest == "md5":
        result.problem = "MD5 digests are refused"
        return result
    attrs = si["signed_attrs"]
    if not isinstance(attrs, core.Void):  # (.native would parse every attribute)
        result.signing_time = _signing_time(attrs)
        # Parse only the values we need: clients add attributes of their own
        # (Microsoft's among them) that asn1crypto misreads.
        found = {a["type"].native: a for a in attrs if a["type"].native in ("message_digest", "content_type")}
        if "message_digest" not in found or "content_type" not in found:
            result.problem = "signed attributes lack the message digest or the content type"
            return result
        if found["content_type"]["values"][0].native != econtent_type:
            result.problem = "the signed content type does not match the content"
            return result
        if found["message_digest"]["values"][0].native != hashlib.new(digest, content).digest():
            result.problem = "message digest mismatch: the content was changed after signing"
            return result
        # The signature covers the attributes as a DER SET: swap the [0] tag,
        # keep the received bytes (never re-encode them).
        signed_bytes = b"\x31" + attrs.dump()[1:]
    else:
        signed_bytes = content
    try:
        _check_signature(cert.public_key(), si["signature"].native, signed_bytes, sig_alg, digest)
    except InvalidSignature:
        result.problem = "the signature does not match (wrong key or altered signed attributes)"
        return result
    result.signature_valid = True
    return result


@guarded
def verify(
    der: bytes,
    content: bytes | None = None,
    *,
    trust_roots: Sequence[x509.Certificate] | None = None,
    intermediates: Sequence[x509.Certificate] = (),
    at: datetime.datetime | None = None,
) -> Verification:
    """Verify SignedData over ``content`` (detached) or its encapsulated content (opaque).

    Raises ``MalformedCms`` if the structure is broken; a signature that does
    not verify is reported in the result, not raised (see ``raise_for_verdict``).
    With ``trust_roots``, each signer's path is validated for S/MIME signing
    at ``at`` (default: now) by ``ca.validation``.
    """
    _, info = load_content_info(der, "signed_data")
    body = info["content"]
    encap = body["encap_content_info"]
    econtent_type = encap["content_type"].native
    embedded = encap["content"]
    detached = isinstance(embedded, core.Void)
    if detached:
        if content is None:
            raise MalformedCms("detached signature given without the signed content")
    else:
        if content is not None and content != _octets(embedded):
            raise MalformedCms("opaque signature given a separate content")
        content = _octets(embedded)
    certs = []
    for choice in body["certificates"] or []:
        if choice.name == "certificate":
            certs.append(load_certificate(choice.chosen.dump()))
    signers = [_verify_signer(si, content, econtent_type, certs) for si in body["signer_infos"]]
    if trust_roots is not None:
        from ca import validation

        for s in signers:
            if s.certificate is None:
                continue
            outcome = validation.validate_path(
                s.certificate,
                trust_roots=trust_roots,
                intermediates=[*certs, *intermediates],
                at=at,
                usage=validation.Usage.SIGN,
            )
            s.trusted, s.trust_problem, s.path = outcome.valid, outcome.problem, outcome.path
    return Verification(content=content, detached=detached, certificates=certs, signers=signers)


def _octets(value) -> bytes:
    """Encapsulated content as bytes, whether it arrived as one OCTET STRING or BER chunks."""
    if isinstance(value, core.ParsableOctetString | core.OctetString):
        return value.native if isinstance(value.native, bytes) else bytes(value)
    return value.native
