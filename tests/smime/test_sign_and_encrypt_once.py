"""sign_and_encrypt_message encrypts the signed entity without re-splitting the signed
message; the result must be what signing, then encrypting the whole message gives."""

import datetime

import pytest

from gateway.smime import encrypt_message, envelope, mime, sign_and_encrypt_message, sign_message

WHEN = datetime.datetime(2026, 11, 2, 10, 0, 0, tzinfo=datetime.UTC)

MESSAGES = [
    b"From: a@example.test\r\nSubject: plain\r\nContent-Type: text/plain\r\n\r\nBody\r\n",
    b"From: a@example.test\nSubject: bare LF\n\nBody\nmore\n",
    b"Subject: lone CR\rFrom: a@example.test\r\n\r\nBody\r",
    b"Subject: folded\r\n\tacross lines\r\nMIME-Version: 1.0\r\nContent-Type: text/plain;\r\n charset=utf-8\r\n\r\nx",
    b"Content-Type: text/plain\r\n\r\nno outer fields\r\n",
    b"\r\nno header at all\r\n",
    b"Subject: no body",
    b"X-Odd: a\r\r\nSubject: a stray CR before CRLF\r\n\r\nBody\r\n",  # the case that falls back
    b" continued: first line\r\nSubject: y\r\n\r\nBody\r\n",
]


@pytest.fixture
def deterministic(monkeypatch):
    # A fixed boundary, and an "encryption" that hands back the entity it was given.
    monkeypatch.setattr(mime, "_boundary", lambda avoid: "----=_lockpost_fixed")
    monkeypatch.setattr(envelope, "encrypt", lambda entity, certificates, **options: entity)


@pytest.mark.parametrize("message", MESSAGES)
@pytest.mark.parametrize("digest", ["sha256", "sha512"])
def test_same_as_sign_then_encrypt(pki, deterministic, message, digest):
    expected = encrypt_message(
        sign_message(message, pki.alice.identity, digest=digest, signing_time=WHEN), [pki.bob.certificate]
    )
    out = sign_and_encrypt_message(message, pki.alice.identity, [pki.bob.certificate], digest=digest, signing_time=WHEN)
    assert out == expected


def test_opaque_signing_still_goes_the_long_way(pki, deterministic):
    message = MESSAGES[0]
    expected = encrypt_message(
        sign_message(message, pki.alice.identity, detached=False, signing_time=WHEN), [pki.bob.certificate]
    )
    out = sign_and_encrypt_message(
        message, pki.alice.identity, [pki.bob.certificate], detached=False, signing_time=WHEN
    )
    assert out == expected


def test_multipart_signed_entity_is_what_inner_entity_takes_out(pki, deterministic):
    outer = b"Subject: x\r\n"
    entity = b"Content-Type: text/plain\r\n\r\nBody\r\n"
    message = mime.multipart_signed(outer, entity, b"\x30\x00", "sha-256")
    assert mime.inner_entity(message) == (outer, mime.multipart_signed_entity(entity, b"\x30\x00", "sha-256"))
