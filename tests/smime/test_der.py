"""Hand-built DER equals asn1crypto's encoding of the same structure.

The codec writes SignedData and EnvelopedData from pre-encoded parts (see
``gateway.smime._asn1``). Each builder is checked here against asn1crypto
building the same values; the interop tests check that peers still read it.
"""

import datetime
import hashlib

import pytest
from asn1crypto import algos, cms, core

from gateway.smime import ContentCipher, Digest, KeyTransport, SignatureScheme, decrypt, encrypt, sign
from gateway.smime._asn1 import (
    der_explicit,
    der_implicit,
    der_octet_string,
    der_sequence,
    der_set_of,
    der_small_int,
    der_tlv,
)
from gateway.smime.envelope import _GcmParameters
from gateway.smime.keys import to_asn1
from gateway.smime.signed import SMIME_CAPABILITIES

CONTENT = b"Content-Type: text/plain\r\n\r\nThe same bytes, whoever encodes them.\r\n"


@pytest.mark.parametrize("size", [0, 1, 127, 128, 255, 256, 65535, 65536, 1_000_000])
def test_lengths_match_asn1crypto(size):
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    assert der_octet_string(data) == core.OctetString(data).dump()
    assert der_tlv(0x04, data) == core.OctetString(data).dump()
    half = len(data) // 2
    assert der_tlv(0x04, data[:half], b"", data[half:]) == core.OctetString(data).dump()


def test_constructors_match_asn1crypto():
    a, b = core.OctetString(b"\x02"), core.OctetString(b"\x01\x00")
    assert der_sequence(a.dump(), b.dump()) == core.SequenceOf(spec=core.OctetString, value=[a, b]).dump()
    assert der_set_of([a.dump(), b.dump()]) == core.SetOf(spec=core.OctetString, value=[a, b]).dump()
    for v in (0, 1, 2, 16, 127):
        assert der_small_int(v) == core.Integer(v).dump()
    with pytest.raises(ValueError, match=r"0\.\.127"):
        der_small_int(128)
    assert der_explicit(0, a.dump()) == core.OctetString(b"\x02", explicit=0).dump()
    assert der_implicit(0, a.dump(), constructed=False) == core.OctetString(b"\x02", implicit=0).dump()
    seq = core.SequenceOf(spec=core.OctetString, value=[a])
    assert (
        der_implicit(1, seq.dump(), constructed=True)
        == core.SequenceOf(spec=core.OctetString, value=[a], implicit=1).dump()
    )


# ---------------------------------------------------------------- SignedData


def _reference_signed_data(der: bytes, content: bytes, identity, detached: bool, include_chain: bool) -> bytes:
    """What asn1crypto writes for the same signer, attributes and signature (the former builder)."""
    signer = cms.ContentInfo.load(der)["content"]["signer_infos"][0]
    when = next(a for a in signer["signed_attrs"] if a["type"].native == "signing_time")["values"][0].native
    digest = signer["digest_algorithm"]["algorithm"].native
    cert = to_asn1(identity.certificate)
    ias = cms.IssuerAndSerialNumber({"issuer": cert.issuer, "serial_number": cert.serial_number})
    caps = [{"capability_id": name} for name in SMIME_CAPABILITIES]
    attrs = cms.CMSAttributes(
        [
            {"type": "content_type", "values": ["data"]},
            {
                "type": "signing_time",
                "values": [cms.Time(name="utc_time" if when.year < 2050 else "generalized_time", value=when)],
            },
            {"type": "message_digest", "values": [core.OctetString(_digest(digest, content))]},
            {"type": "smime_capabilities", "values": [caps]},
            {
                "type": "encrypt_key_pref",
                "values": [cms.SMIMEEncryptionKeyPreference(name="issuer_and_serial_number", value=ias)],
            },
        ]
    )
    info = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(name="issuer_and_serial_number", value=ias),
            "digest_algorithm": {"algorithm": digest},
            "signed_attrs": attrs,
            "signature_algorithm": _signature_algorithm(signer["signature_algorithm"].native, digest),
            "signature": signer["signature"].native,
        }
    )
    encap = {"content_type": "data"}
    if not detached:
        encap["content"] = content
    certs = [cert] + ([to_asn1(c) for c in identity.chain] if include_chain else [])
    body = cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [{"algorithm": digest}],
            "encap_content_info": encap,
            "certificates": certs,
            "signer_infos": [info],
        }
    )
    return cms.ContentInfo({"content_type": "signed_data", "content": body}).dump()


def _signature_algorithm(received: dict, digest: str) -> dict:
    # As the former builder named them: absent parameters are given as absent,
    # so asn1crypto writes what it writes for a fresh value (NULL for RSA).
    if received["algorithm"] != "rsassa_pss":
        return {"algorithm": received["algorithm"]}
    h = {"algorithm": digest}
    params = {"hash_algorithm": h, "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": h}}
    return {"algorithm": "rsassa_pss", "parameters": {**params, "salt_length": len(_digest(digest, b""))}}


def _digest(name: str, data: bytes) -> bytes:
    return hashlib.new(name, data).digest()


@pytest.mark.parametrize("detached", [True, False])
@pytest.mark.parametrize("digest", list(Digest))
@pytest.mark.parametrize(
    ("who", "scheme"),
    [("alice", SignatureScheme.RSA_PKCS1V15), ("alice", SignatureScheme.RSA_PSS), ("carol", None)],
)
def test_signed_data_equals_asn1crypto(pki, detached, digest, who, scheme):
    identity = getattr(pki, who).identity
    der = sign(CONTENT, identity, detached=detached, digest=digest, scheme=scheme or "rsassa_pkcs1v15")
    assert der == _reference_signed_data(der, CONTENT, identity, detached, include_chain=True)
    assert der == cms.ContentInfo.load(der).dump(force=True)


@pytest.mark.parametrize("year", [1999, 2026, 2049, 2050, 2107])
@pytest.mark.parametrize("include_chain", [True, False])
def test_signing_time_and_chain_equal_asn1crypto(pki, year, include_chain):
    when = datetime.datetime(year, 11, 2, 10, 0, 59, tzinfo=datetime.UTC)
    der = sign(CONTENT, pki.alice.identity, signing_time=when, include_chain=include_chain)
    assert der == _reference_signed_data(der, CONTENT, pki.alice.identity, True, include_chain)


def test_large_opaque_content_equals_asn1crypto(pki):
    content = CONTENT * 30_000  # about 1 MB: four-byte lengths
    der = sign(content, pki.alice.identity, detached=False)
    assert der == _reference_signed_data(der, content, pki.alice.identity, False, include_chain=True)


# ---------------------------------------------------------------- EnvelopedData


def _reference_enveloped_data(der: bytes) -> bytes:
    """asn1crypto's encoding of the same recipients, algorithm, IV or nonce, ciphertext and tag."""
    info = cms.ContentInfo.load(der)
    kind, body = info["content_type"].native, info["content"]
    infos = []
    for ri in body["recipient_infos"]:
        if ri.name == "ktri":
            k = ri.chosen
            value = cms.KeyTransRecipientInfo(
                {
                    "version": "v0",
                    "rid": cms.RecipientIdentifier(
                        name="issuer_and_serial_number",
                        value=cms.IssuerAndSerialNumber.load(k["rid"].chosen.dump()),
                    ),
                    "key_encryption_algorithm": _key_encryption_algorithm(k["key_encryption_algorithm"].native),
                    "encrypted_key": k["encrypted_key"].native,
                }
            )
            infos.append(cms.RecipientInfo(name="ktri", value=value))
        else:
            infos.append(cms.RecipientInfo.load(ri.dump()))
    if kind == "authenticated_enveloped_data":
        eci = body["auth_encrypted_content_info"]
        alg = eci["content_encryption_algorithm"]
        nonce = _GcmParameters.load(alg["parameters"].dump())["aes_nonce"].native
        new_params = _GcmParameters({"aes_nonce": nonce, "aes_icv_len": 16})
        new_eci = cms.EncryptedContentInfo(
            {
                "content_type": "data",
                "content_encryption_algorithm": {"algorithm": alg["algorithm"].native, "parameters": new_params},
                "encrypted_content": eci["encrypted_content"].native,
            }
        )
        new = cms.AuthEnvelopedData(
            {
                "version": "v0",
                "recipient_infos": infos,
                "auth_encrypted_content_info": new_eci,
                "mac": body["mac"].native,
            }
        )
    else:
        eci = body["encrypted_content_info"]
        alg = eci["content_encryption_algorithm"]
        new_eci = cms.EncryptedContentInfo(
            {
                "content_type": "data",
                "content_encryption_algorithm": {
                    "algorithm": alg["algorithm"].native,
                    "parameters": alg["parameters"].native,
                },
                "encrypted_content": eci["encrypted_content"].native,
            }
        )
        version = "v0" if all(ri.name == "ktri" for ri in infos) else "v2"
        new = cms.EnvelopedData({"version": version, "recipient_infos": infos, "encrypted_content_info": new_eci})
    return cms.ContentInfo({"content_type": kind, "content": new}).dump()


def _key_encryption_algorithm(received: dict) -> dict:
    if received["algorithm"] != "rsaes_oaep":
        return {"algorithm": received["algorithm"]}
    sha256 = {"algorithm": "sha256"}
    return {
        "algorithm": "rsaes_oaep",
        "parameters": {"hash_algorithm": sha256, "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": sha256}},
    }


@pytest.mark.parametrize("cipher", list(ContentCipher))
@pytest.mark.parametrize("key_transport", list(KeyTransport))
@pytest.mark.parametrize("who", [("bob",), ("bob", "alice"), ("carol",), ("bob", "carol")])
def test_enveloped_data_equals_asn1crypto(pki, cipher, key_transport, who):
    certs = [getattr(pki, w).certificate for w in who]
    der = encrypt(CONTENT, certs, cipher=cipher, key_transport=key_transport)
    assert der == _reference_enveloped_data(der)
    assert der == cms.ContentInfo.load(der).dump(force=True)
    assert decrypt(der, [getattr(pki, who[0]).identity]).content == CONTENT


def test_large_enveloped_data_equals_asn1crypto(pki):
    content = CONTENT * 30_000
    der = encrypt(content, [pki.bob.certificate])
    assert der == _reference_enveloped_data(der)
    assert decrypt(der, [pki.bob.identity]).content == content


def test_algorithm_identifiers_equal_asn1crypto():
    # The cached constants are asn1crypto's own; the IV wrapper is ours.
    iv = bytes(16)
    built = der_sequence(algos.EncryptionAlgorithmId("aes256_cbc").dump(), der_octet_string(iv))
    assert built == algos.EncryptionAlgorithm({"algorithm": "aes256_cbc", "parameters": iv}).dump()
