"""Large attachments are decoded from the raw bytes, not through the email
package's parse; what comes out must be exactly what the email package gives.
And attachments are deflated only when that gains something."""

import base64
import email
import email.policy
import hashlib
import io

import pikepdf
import pytest

from gateway.pdfmail import rawbodies
from gateway.pdfmail.attach import deflated, embed
from gateway.pdfmail.parse import parse_message
from tests.pdfmail.messages import add_file, message, random_bytes

DATA = random_bytes(200_000)
LINES = b"\r\n".join(base64.b64encode(DATA)[i : i + 76] for i in range(0, 4 * (len(DATA) // 3 + 1), 76))


def mixed(body: bytes, cte: bytes = b"base64") -> bytes:
    return (
        b"From: a@example.com\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=zz\r\n\r\n"
        b"--zz\r\nContent-Type: text/plain\r\n\r\nbody\r\n"
        b"--zz\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: " + cte + b"\r\n\r\n"
        + body + b"\r\n--zz--\r\n"
    )  # fmt: skip


def email_package_payloads(raw: bytes) -> list[bytes]:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    return [p.get_payload(decode=True) for p in msg.walk() if p.get_content_maintype() == "application"]


VARIANTS = {
    "clean": mixed(LINES),
    "bare LF": mixed(LINES).replace(b"\r\n", b"\n"),
    "padding missing": mixed(LINES.rstrip(b"=")),
    "stray characters": mixed(LINES.replace(b"A", b"A*", 3)),
    "one character too many": mixed(LINES + b"Q"),
    "trailing spaces": mixed(LINES.replace(b"\r\n", b" \r\n")),
    "upper-case encoding name": mixed(LINES, b"BASE64"),
    "single part": b"Subject: s\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" + LINES,
}


@pytest.mark.parametrize("name", VARIANTS)
def test_large_bodies_decode_exactly_as_the_email_package_does(name):
    raw = VARIANTS[name]
    [attachment] = parse_message(raw).attachments
    assert [attachment.data()] == email_package_payloads(raw)
    assert attachment.part in attachment.bodies  # decoded from the raw bytes


def test_a_body_with_a_dash_is_left_to_the_email_package():
    raw = mixed(LINES.replace(b"\r\n", b"\r\n--zz-not-a-boundary\r\n", 1))
    [attachment] = parse_message(raw).attachments
    assert attachment.bodies is None
    assert [attachment.data()] == email_package_payloads(raw)


def test_when_the_parser_and_the_boundary_walk_disagree_the_parser_wins(monkeypatch):
    # A span that is not a whole body: the marker check must notice.
    raw = VARIANTS["clean"]
    monkeypatch.setattr(
        rawbodies, "large_base64_leaves", lambda raw, size: [(raw.index(b"body"), raw.index(b"body") + 2)]
    )
    parsed = parse_message(raw)
    assert parsed.text.strip() == "body"
    assert [a.data() for a in parsed.attachments] == email_package_payloads(raw)
    assert parsed.attachments[0].bodies is None


def test_small_and_inline_parts_still_parse_the_ordinary_way():
    msg = message(text="hello")
    add_file(msg, "small.bin", b"x" * 100)
    add_file(msg, "big.bin", DATA)
    small, big = parse_message(msg.as_bytes()).attachments
    assert small.data() == b"x" * 100
    assert big.data() == DATA
    assert small.part not in small.bodies
    assert big.part in big.bodies


def test_only_what_gains_is_deflated():
    assert deflated(DATA) is None  # random: stored as it is
    text = b"quarterly figures and the budget review\n" * 20_000
    assert len(deflated(text)) < len(text) // 10
    # Judged on samples, then on the whole: a fifth that deflates well is worth it...
    mixed_data = text[:100_000] + random_bytes(400_000)
    assert len(deflated(mixed_data)) < 0.85 * len(mixed_data)
    # ...a compressible head on random data is not.
    assert deflated(text[:20_000] + random_bytes(480_000)) is None


@pytest.mark.parametrize("data", [DATA, b"text that deflates well\n" * 10_000], ids=["random", "text"])
def test_embedded_file_params_describe_the_original(data):
    pdf = pikepdf.new()
    embed(pdf, "f.bin", "application/octet-stream", data, set())
    out = io.BytesIO()
    pdf.save(out)
    reopened = pikepdf.open(io.BytesIO(out.getvalue()))
    stream = reopened.attachments["f.bin"].obj.EF.F
    assert stream.read_bytes() == data
    assert int(stream.Params.Size) == len(data)
    assert bytes(stream.Params.CheckSum) == hashlib.md5(data, usedforsecurity=False).digest()
