"""The fast byte paths in ``mime`` give exactly what the plain regex versions gave.

Large bodies made the regexes the slowest part of the codec; these tests
hold the replacements to the former behaviour on awkward and random input.
"""

import base64
import email.utils
import random
import re

import pytest

from gateway.smime.mime import Entity, _delimiters, canonicalize, wrap_base64

_LINE_END = re.compile(rb"\r\n|\r|\n")


def _old_canonicalize(data: bytes) -> bytes:
    return _LINE_END.sub(b"\r\n", data)


def _old_delimiters(body: bytes, boundary: bytes) -> list[tuple[int, int, bytes | None]]:
    delim = re.compile(rb"(?:^|\r?\n)--" + re.escape(boundary) + rb"(--)?[ \t]*(?:\r?\n|$)")
    return [(m.start(), m.end(), m.group(1)) for m in delim.finditer(body)]


def _random_bytes(rng: random.Random, alphabet: list[bytes], n: int) -> bytes:
    return b"".join(rng.choice(alphabet) for _ in range(n))


@pytest.mark.parametrize(
    "data",
    [b"", b"\r", b"\n", b"\r\n", b"\n\r", b"\r\r\n", b"a\rb\nc\r\nd", b"\r\n\r\n", b"x\n\n\r\r", b"no breaks"],
)
def test_canonicalize_awkward_line_breaks(data):
    assert canonicalize(data) == _old_canonicalize(data)


def test_canonicalize_random():
    rng = random.Random(5652)
    for _ in range(3000):
        data = _random_bytes(rng, [b"\r", b"\n", b"\r\n", b"a", b" "], rng.randrange(0, 12))
        assert canonicalize(data) == _old_canonicalize(data), data


@pytest.mark.parametrize("boundary", [b"b", b"-", b"--x", b"a.b(c)+"])
def test_delimiters_random(boundary):
    rng = random.Random(2046)
    pieces = [b"--" + boundary, b"--", b"-", b"\r", b"\n", b"\r\n", b" ", b"\t", b"a", boundary]
    for _ in range(3000):
        body = _random_bytes(rng, pieces, rng.randrange(0, 14))
        found = [(m.start(), m.end(), m.group(1)) for m in _delimiters(body, boundary)]
        assert found == _old_delimiters(body, boundary), body


def test_delimiters_in_a_large_body():
    part = b"Content-Type: text/plain\r\n\r\n" + b"--not-it\r\n" * 50_000
    body = b"preamble\r\n--B\r\n" + part + b"\r\n--B \t\r\n" + b"sig" + b"\r\n--B--\r\n"
    assert [(m.start(), m.end(), m.group(1)) for m in _delimiters(body, b"B")] == _old_delimiters(body, b"B")


def test_base64_body_decodes_as_when_filtered_first():
    rng = random.Random(2045)
    for _ in range(500):
        data = rng.randbytes(rng.randrange(0, 200))
        noisy = wrap_base64(data).replace(b"\r\n", rng.choice([b"\r\n", b"\n", b" \r\n", b"\t\n", b"!\r\n"]))
        entity = Entity(b"Content-Transfer-Encoding: base64\r\n", noisy)
        filtered = base64.b64decode(re.sub(rb"[^A-Za-z0-9+/=]", b"", noisy))
        assert entity.decoded_body() == filtered == data


def test_entity_header_is_still_a_fresh_copy():
    entity = Entity(b"Content-Type: text/plain; charset=utf-8\r\n", b"x")
    entity.header("content-type").replace_header("Content-Type", "text/html")
    assert entity.content_type == "text/plain"
    assert entity.header("content-type").get_content_type() == "text/plain"


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"Subject: no content type\r\n",
        b'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256;\r\n'
        b' boundary="----=_b"\r\n',
        b"Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\r\n",
        b'Content-Type: application/octet-stream; NAME="a.p7m"; name=second.p7m\r\n',
        b"Content-Type: application/octet-stream; name*=utf-8''%E2%82%AC.p7m\r\n",
        b'Content-Type: application/octet-stream; name*0="smi"; name*1="me.p7m"\r\n',
        b"Content-Type: text/plain\r\nContent-Type: application/pkcs7-mime; smime-type=signed-data\r\n",
        b"Content-Type: ; ;; =x; boundary\r\n",
    ],
)
def test_params_as_email_reads_them(head):
    entity = Entity(head, b"")
    for name in ("protocol", "micalg", "boundary", "smime-type", "name", "missing"):
        value = entity.header("content-type").get_param(name)
        if isinstance(value, tuple):
            value = email.utils.collapse_rfc2231_value(value)
        assert entity.param(name) == value, name


@pytest.mark.parametrize("size", [0, 1, 56, 57, 58, 113, 114, 115, 10_000, 100_003])
def test_wrap_base64_lines(size):
    data = random.Random(size).randbytes(size)
    encoded = base64.b64encode(data)
    expected = b"".join(encoded[i : i + 76] + b"\r\n" for i in range(0, len(encoded), 76))
    assert wrap_base64(data) == expected
