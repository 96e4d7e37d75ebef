"""RecipientInfos: how each recipient gets the content-encryption key.

Key transport (RSA PKCS#1 v1.5 or OAEP, RFC 3370/8017) and key agreement
(ECDH ephemeral-static, RFC 5753 with AES key wrap, RFC 3394). Builders take
a certificate; openers take an ``Identity`` whose key decrypts or exchanges.
"""

import functools

from asn1crypto import algos, cms, core, keys
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from . import _hazmat
from ._asn1 import der_octet_string, der_sequence, der_small_int
from .algorithms import KeyTransport, hash_for
from .errors import DecryptionFailed, MalformedCms, UnsupportedAlgorithm
from .keys import Identity, issuer_and_serial, matches_issuer_and_serial, subject_key_identifier

# RFC 5753 / SEC 1 key-agreement schemes: OID -> KDF hash. The cofactor
# variants are the same computation on the prime curves in use (cofactor 1).
ECDH_SCHEMES = {
    "1.3.133.16.840.63.0.2": "sha1",  # dhSinglePass-stdDH-sha1kdf-scheme
    "1.3.132.1.11.0": "sha224",
    "1.3.132.1.11.1": "sha256",  # dhSinglePass-stdDH-sha256kdf-scheme (what we write)
    "1.3.132.1.11.2": "sha384",
    "1.3.132.1.11.3": "sha512",
    "1.3.133.16.840.63.0.3": "sha1",  # dhSinglePass-cofactorDH-sha1kdf-scheme
    "1.3.132.1.14.0": "sha224",
    "1.3.132.1.14.1": "sha256",
    "1.3.132.1.14.2": "sha384",
    "1.3.132.1.14.3": "sha512",
}
ECDH_SHA256 = "1.3.132.1.11.1"


class _KeyWrapAlgorithm(core.Sequence):
    _fields = [("algorithm", cms.KeyEncryptionAlgorithmId), ("parameters", core.Any, {"optional": True})]


class _EccCmsSharedInfo(core.Sequence):
    """RFC 5753 section 7.2: the KDF's SharedInfo."""

    _fields = [
        ("key_info", core.Any),
        ("entity_u_info", core.OctetString, {"explicit": 0, "optional": True}),
        ("supp_pub_info", core.OctetString, {"explicit": 2}),
    ]


def _issuer_and_serial(cert: x509.Certificate) -> cms.IssuerAndSerialNumber:
    return cms.IssuerAndSerialNumber.load(issuer_and_serial(cert))


def _oaep_sha256() -> padding.OAEP:
    return padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


# ---------------------------------------------------------------- building
#
# Builders return the DER of one RecipientInfo. Key transport, the common
# case, is assembled by hand from cached parts; key agreement goes through
# asn1crypto (rarer, and its cost is in the ECDH anyway).


@functools.cache
def _key_transport_algorithm(scheme: KeyTransport) -> bytes:
    if scheme == KeyTransport.RSA_OAEP_SHA256:
        params = algos.RSAESOAEPParams(
            {
                "hash_algorithm": {"algorithm": "sha256"},
                "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": "sha256"}},
            }
        )
        return cms.KeyEncryptionAlgorithm({"algorithm": "rsaes_oaep", "parameters": params}).dump()
    return cms.KeyEncryptionAlgorithm({"algorithm": "rsaes_pkcs1v15"}).dump()


def is_key_agreement(cert: x509.Certificate) -> bool:
    """EC certificates get key agreement (kari), RSA ones key transport (ktri)."""
    return isinstance(cert.public_key(), ec.EllipticCurvePublicKey)


def key_transport(cert: x509.Certificate, cek: bytes, scheme: KeyTransport) -> bytes:
    public = cert.public_key()
    if not isinstance(public, rsa.RSAPublicKey):
        raise UnsupportedAlgorithm("key transport needs an RSA certificate")
    pad = _oaep_sha256() if scheme == KeyTransport.RSA_OAEP_SHA256 else padding.PKCS1v15()
    # KeyTransRecipientInfo v0 (RecipientInfo's untagged choice): rid, algorithm, encrypted key.
    return der_sequence(
        der_small_int(0),
        issuer_and_serial(cert),
        _key_transport_algorithm(scheme),
        der_octet_string(public.encrypt(cek, pad)),
    )


def _shared_info(wrap_algorithm_der: bytes, ukm: bytes | None, kek_bytes: int) -> bytes:
    info = {"key_info": core.Any.load(wrap_algorithm_der), "supp_pub_info": (kek_bytes * 8).to_bytes(4, "big")}
    if ukm is not None:
        info["entity_u_info"] = ukm
    return _EccCmsSharedInfo(info).dump()


def key_agreement(cert: x509.Certificate, cek: bytes, wrap: str = "aes256_wrap") -> bytes:
    """RFC 5753 ECDH ephemeral-static with the SHA-256 X9.63 KDF and AES key wrap."""
    peer = cert.public_key()
    if not isinstance(peer, ec.EllipticCurvePublicKey):
        raise UnsupportedAlgorithm("key agreement needs an EC certificate")
    ephemeral = ec.generate_private_key(peer.curve)
    shared = ephemeral.exchange(ec.ECDH(), peer)
    wrap_der = _KeyWrapAlgorithm({"algorithm": wrap}).dump()
    kek_len = _hazmat.WRAP_KEY_BYTES[wrap]
    kek = _hazmat.x963_kdf(hashes.SHA256(), shared, kek_len, _shared_info(wrap_der, None, kek_len))
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    point = ephemeral.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    # OpenSSL writes the originator key with absent parameters: the curve is the recipient's.
    originator = keys.PublicKeyInfo({"algorithm": {"algorithm": "ec"}, "public_key": point})
    rek = cms.RecipientEncryptedKey(
        {
            "rid": cms.KeyAgreementRecipientIdentifier(name="issuer_and_serial_number", value=_issuer_and_serial(cert)),
            "encrypted_key": _hazmat.aes_key_wrap(kek, cek),
        }
    )
    kari = cms.KeyAgreeRecipientInfo(
        {
            "version": "v3",
            "originator": cms.OriginatorIdentifierOrKey(name="originator_key", value=originator),
            "key_encryption_algorithm": {"algorithm": ECDH_SHA256, "parameters": core.Any.load(wrap_der)},
            "recipient_encrypted_keys": [rek],
        }
    )
    return cms.RecipientInfo(name="kari", value=kari).dump()


def for_certificate(cert: x509.Certificate, cek: bytes, scheme: KeyTransport) -> bytes:
    """EC certificates get key agreement, RSA ones key transport."""
    if is_key_agreement(cert):
        return key_agreement(cert, cek)
    return key_transport(cert, cek, scheme)


# ---------------------------------------------------------------- opening


def _matches(rid: cms.RecipientIdentifier | cms.KeyAgreementRecipientIdentifier, identity: Identity) -> bool:
    if rid.name == "issuer_and_serial_number":
        return matches_issuer_and_serial(rid.chosen, identity.certificate)
    ski = subject_key_identifier(identity.certificate)
    if rid.name == "subject_key_identifier":
        return ski is not None and rid.chosen.native == ski
    if rid.name == "r_key_id":
        return ski is not None and rid.chosen["subject_key_identifier"].native == ski
    return False


def find(recipient_infos: cms.RecipientInfos, identities: list[Identity]) -> tuple[cms.RecipientInfo, Identity, int]:
    """The first RecipientInfo addressed to one of our identities, and the index inside a kari."""
    for ri in recipient_infos:
        if ri.name == "ktri":
            for identity in identities:
                if _matches(ri.chosen["rid"], identity):
                    return ri, identity, 0
        elif ri.name == "kari":
            for i, rek in enumerate(ri.chosen["recipient_encrypted_keys"]):
                for identity in identities:
                    if _matches(rek["rid"], identity):
                        return ri, identity, i
    from .errors import NoMatchingRecipient

    raise NoMatchingRecipient(f"none of the {len(recipient_infos)} recipients is a key we hold")


def describe(ri: cms.RecipientInfo) -> str:
    if ri.name == "ktri":
        return ri.chosen["key_encryption_algorithm"]["algorithm"].native
    if ri.name == "kari":
        return "ecdh:" + ri.chosen["key_encryption_algorithm"]["algorithm"].dotted
    return ri.name


def _check_pair(identity: Identity) -> None:
    """A key that is not the certificate's would yield a random content key, which CBC
    then rejects only most of the time: say so plainly instead."""
    public_key = getattr(identity.key, "public_key", None)
    if public_key is not None and public_key() != identity.certificate.public_key():
        raise DecryptionFailed("the private key we hold does not belong to the recipient certificate")


def open_key_transport(ktri: cms.KeyTransRecipientInfo, identity: Identity, cek_len: int) -> bytes:
    _check_pair(identity)
    alg = ktri["key_encryption_algorithm"]
    name = alg["algorithm"].native
    if name == "rsaes_pkcs1v15":
        pad = padding.PKCS1v15()
    elif name == "rsaes_oaep":
        params = alg["parameters"]
        h = hash_for(params["hash_algorithm"]["algorithm"].native)
        mgf_hash = hash_for(params["mask_gen_algorithm"]["parameters"]["algorithm"].native)
        label = params["p_source_algorithm"]["parameters"].native or None
        pad = padding.OAEP(mgf=padding.MGF1(mgf_hash), algorithm=h, label=label)
    else:
        raise UnsupportedAlgorithm(f"key transport {name!r}")
    try:
        cek = identity.key.decrypt(ktri["encrypted_key"].native, pad)
    except ValueError:
        if name != "rsaes_pkcs1v15":
            raise DecryptionFailed("the content key did not decrypt with our key")
        cek = None
    if cek is None or (cek_len and len(cek) != cek_len):
        # RFC 3218 section 2.3.2: carry on with a random key so a padding
        # failure looks like any other wrong key (no oracle for Bleichenbacher).
        cek = _hazmat.random_bytes(cek_len or 32)
    return cek


def open_key_agreement(kari: cms.KeyAgreeRecipientInfo, index: int, identity: Identity) -> bytes:
    _check_pair(identity)
    scheme = kari["key_encryption_algorithm"]["algorithm"].dotted
    if scheme not in ECDH_SCHEMES:
        raise UnsupportedAlgorithm(f"key agreement scheme {scheme}")
    kdf_hash = hash_for(ECDH_SCHEMES[scheme])
    wrap_der = kari["key_encryption_algorithm"]["parameters"].dump()
    wrap_name = _KeyWrapAlgorithm.load(wrap_der)["algorithm"].dotted
    wrap_name = cms.KeyEncryptionAlgorithmId.map(wrap_name) if wrap_name != _hazmat.TRIPLEDES_WRAP else wrap_name
    if wrap_name not in _hazmat.WRAP_KEY_BYTES:
        raise UnsupportedAlgorithm(f"key wrap {wrap_name!r}")
    originator = kari["originator"]
    if originator.name != "originator_key":
        raise UnsupportedAlgorithm("key agreement with a static originator certificate")
    curve = identity.certificate.public_key().curve
    try:
        point = originator.chosen["public_key"].native
        if isinstance(point, keys.ECPointBitString):
            point = point.native
        peer = ec.EllipticCurvePublicKey.from_encoded_point(curve, bytes(point))
    except ValueError:
        raise MalformedCms("the originator's ephemeral key is not a point on our curve")
    shared = identity.key.exchange(ec.ECDH(), peer)
    ukm = kari["ukm"].native if kari["ukm"].native is not None else None
    kek_len = _hazmat.WRAP_KEY_BYTES[wrap_name]
    kek = _hazmat.x963_kdf(kdf_hash, shared, kek_len, _shared_info(wrap_der, ukm, kek_len))
    wrapped = kari["recipient_encrypted_keys"][index]["encrypted_key"].native
    if wrap_name == _hazmat.TRIPLEDES_WRAP:
        return _hazmat.tripledes_key_unwrap(kek, wrapped)
    return _hazmat.aes_key_unwrap(kek, wrapped)
