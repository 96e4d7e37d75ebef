"""Whole messages: S/MIME wrapping, byte-exact slicing, CRLF, and unwrapping layer by layer."""

import pytest

from gateway.smime import (
    ContentCipher,
    MalformedMessage,
    SmimeError,
    decrypt_message,
    encrypt_message,
    kind_of,
    sign_and_encrypt_message,
    sign_message,
    unwrap,
    verify_message,
)
from gateway.smime.mime import Entity, canonicalize, inner_entity, slice_multipart_signed


def test_canonicalize_makes_every_line_end_crlf():
    assert canonicalize(b"a\nb\r\nc\rd") == b"a\r\nb\r\nc\r\nd"


def test_detached_signature_as_outlook_and_thunderbird_expect(pki, message, at):
    out = sign_message(message, pki.alice.identity)
    head = Entity.parse(out)
    assert head.content_type == "multipart/signed"
    assert head.param("protocol") == "application/pkcs7-signature"
    assert head.param("micalg") == "sha-256"
    assert b'Content-Type: application/pkcs7-signature; name="smime.p7s"' in out
    # Headers outside Content-* stay outside, exactly (the tab-folded Subject too).
    assert b"Subject: Quarterly figures\r\n\tfolded with a tab\r\n" in out
    assert b"\n" not in out.replace(b"\r\n", b"")
    result = verify_message(out, trust_roots=pki.roots, at=at)
    assert result.verification.verdict == "valid"
    _, entity = inner_entity(message)
    assert result.entity == entity


def test_opaque_signature(pki, message, at):
    out = sign_message(message, pki.carol.identity, detached=False)
    assert b'Content-Type: application/pkcs7-mime; smime-type=signed-data; name="smime.p7m"' in out
    assert kind_of(out) == "signed-data"
    result = verify_message(out, trust_roots=pki.roots, at=at)
    assert result.verification.verdict == "valid"
    assert b"From the start of a line." in result.message


def test_lf_only_input_is_signed_canonically(pki, message, at):
    out = sign_message(message.replace(b"\r\n", b"\n"), pki.alice.identity)
    assert verify_message(out, trust_roots=pki.roots, at=at).verification.verdict == "valid"
    # A relay that turns the whole message into LF line ends does not break it either.
    assert verify_message(out.replace(b"\r\n", b"\n"), trust_roots=pki.roots, at=at).verification.verdict == "valid"


def test_signed_part_is_sliced_not_reserialised(pki, at):
    # Odd but legal header layout inside the signed part: refolding it would break the signature.
    inner = (
        b'Content-Type: text/plain;\r\n\tcharset="us-ascii"\r\nContent-Transfer-Encoding:   7bit\r\n\r\nbody  \r\n\r\n'
    )
    out = sign_message(b"Subject: x\r\n" + inner, pki.alice.identity)
    parts = slice_multipart_signed(Entity.parse(out))
    assert parts.signed == inner
    tampered = out.replace(b"Encoding:   7bit", b"Encoding: 7bit")
    result = verify_message(tampered, trust_roots=pki.roots, at=at)
    assert result.verification.verdict == "invalid"


def test_encrypted_message_as_outlook_expects(pki, message):
    out = encrypt_message(message, [pki.bob.certificate, pki.alice.certificate])
    assert (
        b'Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"\r\n'
        b"Content-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="smime.p7m"\r\n'
    ) in out
    assert b"Quarterly" in out  # the outer Subject stays readable (no header protection asked)
    assert b"Hello Bob" not in out
    result = decrypt_message(out, [pki.bob.identity])
    assert b"Hello Bob,\r\n" in result.message
    assert result.message.startswith(b"From: Alice")


def test_gcm_message_is_auth_enveloped(pki, message):
    out = encrypt_message(message, [pki.bob.certificate], cipher=ContentCipher.AES128_GCM)
    assert b"smime-type=authEnveloped-data" in out
    assert kind_of(out) == "authEnveloped-data"
    assert decrypt_message(out, [pki.bob.identity]).details.authenticated


def test_signed_then_encrypted_unwraps_in_two_layers(pki, message, at):
    out = sign_and_encrypt_message(message, pki.alice.identity, [pki.bob.certificate, pki.alice.certificate])
    result = unwrap(out, [pki.bob.identity], trust_roots=pki.roots, at=at)
    assert [type(x).__name__ for x in result.layers] == ["DecryptedMessage", "VerifiedMessage"]
    assert result.verified.verification.verdict == "valid"
    assert result.verified.verification.signer.certificate == pki.alice.certificate
    assert b"Hello Bob," in result.message
    assert kind_of(result.message) is None


def test_triple_wrapped(pki, message, at):
    inner = sign_message(message, pki.alice.identity)
    out = sign_message(encrypt_message(inner, [pki.bob.certificate]), pki.carol.identity, detached=False)
    result = unwrap(out, [pki.bob.identity], trust_roots=pki.roots, at=at)
    assert [type(x).__name__ for x in result.layers] == ["VerifiedMessage", "DecryptedMessage", "VerifiedMessage"]
    assert result.layers[0].verification.signer.certificate == pki.carol.certificate
    assert result.layers[2].verification.signer.certificate == pki.alice.certificate
    assert all(x.verification.verdict == "valid" for x in result.layers if hasattr(x, "verification"))


def test_plain_message_unwraps_to_itself(message):
    assert unwrap(message).layers == []
    assert kind_of(message) is None


def test_multipart_signed_without_signature_part(pki, message):
    out = sign_message(message, pki.alice.identity)
    boundary = Entity.parse(out).param("boundary").encode()
    cut = out[: out.rfind(b"--" + boundary + b"\r\nContent-Type: application/pkcs7-signature")]
    with pytest.raises(MalformedMessage):
        verify_message(cut + b"--" + boundary + b"--\r\n")


@pytest.mark.parametrize("body", [b"", b"!!!!", b"QUJD\r\n", b"MIAGCSqGSIb3DQEHA6CAMIACAQAxggLw\r\n"])
def test_broken_encrypted_bodies_raise_codec_errors(pki, body):
    raw = (
        b"Subject: x\r\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + body
    )
    with pytest.raises(SmimeError):
        unwrap(raw, [pki.bob.identity])


ENTITY_HEADS = {
    "well formed": b'From: a@x.test\r\nContent-Type: multipart/signed; protocol="application/pkcs7-signature";\r\n'
    b' micalg=sha-256; boundary="b1"\r\nContent-Transfer-Encoding: 7bit\r\n',
    "a stray line before Content-Type": b"From: a@x.test\r\nthis is no field\r\n"
    b"Content-Type: application/pkcs7-mime; smime-type=enveloped-data\r\n",
    "a mbox From line": b"From a@x.test Sat Nov 28 10:00:00 2026\r\nContent-Type: text/html\r\n",
    "RFC 2231 parameter": b"Content-Type: application/pkcs7-mime;\r\n name*=utf-8''smime%20x.p7m\r\n",
    "no Content-Type": b"Subject: hi\r\n",
}


@pytest.mark.parametrize("head", ENTITY_HEADS.values(), ids=ENTITY_HEADS.keys())
def test_an_entity_reads_content_fields_as_the_whole_header_parsed_would(head):
    import email.parser
    import email.policy

    entity = Entity.parse(head + b"\r\nbody\r\n")
    whole = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(head + b"\r\n")

    assert entity.content_type == whole.get_content_type()
    for name in ("protocol", "micalg", "boundary", "smime-type", "name"):
        expected = whole.get_param(name)
        assert entity.param(name) == (email.utils.collapse_rfc2231_value(expected) if expected else None)
