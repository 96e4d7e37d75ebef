import email
import email.policy

import pytest

from gateway.pdfmail import build_cover_message

ORIGINAL = (
    b"Received: from inside by mx\r\n"
    b"From: =?UTF-8?Q?J=C3=BCrgen?= <juergen@example.de>\r\n"
    b"To: bob@example.org,\r\n   carol@example.net\r\n"
    b"Cc: dave@example.com\r\n"
    b"Date: Tue, 03 Nov 2026 10:00:00 +0100\r\n"
    b"Subject: Vertrag  [sms:+31612345678]\r\n"
    b"Message-ID: <orig.1@example.de>\r\n"
    b"In-Reply-To: <prev.0@example.org>\r\n"
    b"References: <root@example.org>\r\n <prev.0@example.org>\r\n"
    b"DKIM-Signature: v=1; a=rsa-sha256; d=example.de; b=abc\r\n"
    b"Content-Type: text/plain\r\n\r\nsecret body\r\n"
)
PDF = b"%PDF-1.7 encrypted bytes\x00\xff"


def parse(raw):
    return email.message_from_bytes(raw, policy=email.policy.default)


def test_cover_keeps_addressing_headers_verbatim_and_carries_the_pdf():
    raw = build_cover_message(ORIGINAL, PDF, filename="Nachricht.pdf", password_via="sms")
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF throughout
    head = raw.split(b"\r\n\r\n", 1)[0]
    for line in (
        b"To: bob@example.org,\r\n   carol@example.net\r\n",
        b"References: <root@example.org>\r\n <prev.0@example.org>\r\n",
        b"Message-ID: <orig.1@example.de>\r\n",
        b"In-Reply-To: <prev.0@example.org>\r\n",
        b"Cc: dave@example.com\r\n",
        b"Date: Tue, 03 Nov 2026 10:00:00 +0100\r\n",
    ):
        assert line in head + b"\r\n"
    assert b"Received:" not in head
    assert b"DKIM-Signature" not in head
    assert b"secret body" not in raw
    msg = parse(raw)
    assert msg.get_content_type() == "multipart/mixed"
    [pdf] = list(msg.iter_attachments())
    assert pdf.get_content_type() == "application/pdf"
    assert pdf.get_filename() == "Nachricht.pdf"
    assert pdf.get_content() == PDF
    assert len(msg.get_all("MIME-Version")) == 1


@pytest.mark.parametrize(
    ("language", "phrases"),
    [
        ("en", ["Jürgen <juergen@example.de> sent you a protected message", "Nachricht.pdf", "text message"]),
        ("nl", ["heeft u een beveiligd bericht gestuurd", "per sms"]),
        ("de", ["hat Ihnen eine geschützte Nachricht gesendet", "per SMS"]),
        ("de-AT", ["geschützte Nachricht"]),
        ("fr", ["sent you a protected message"]),  # unknown: English
    ],
)
def test_cover_text_in_each_language(language, phrases):
    msg = parse(build_cover_message(ORIGINAL, PDF, language=language, filename="Nachricht.pdf", password_via="sms"))
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    for phrase in phrases:
        assert phrase in text
    assert "juergen@example.de" in html
    assert "<p>" in html


def test_password_hint_never_the_password_and_sender_variant():
    text = parse(build_cover_message(ORIGINAL, PDF, password_via="sender")).get_body(("plain",)).get_content()
    assert "The sender has your password" in text


def test_subject_can_be_replaced():
    raw = build_cover_message(ORIGINAL, PDF, subject="Vertrag")
    assert parse(raw)["Subject"] == "Vertrag"
    assert b"sms:+316" not in raw


def test_html_escapes_what_the_sender_wrote():
    original = ORIGINAL.replace(b"Subject: Vertrag", b"Subject: <script>alert(1)</script>")
    html = parse(build_cover_message(original, PDF)).get_body(("html",)).get_content()
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


def test_overrides_replace_the_templates():
    raw = build_cover_message(
        ORIGINAL, PDF, overrides={"text": "Beste {{ sender }}, zie {{ filename }}.", "html": "<p>{{ subject }}</p>"}
    )
    msg = parse(raw)
    assert msg.get_body(("plain",)).get_content().strip() == "Beste Jürgen <juergen@example.de>, zie message.pdf."
    assert "<p>Vertrag  [sms:+31612345678]</p>" in msg.get_body(("html",)).get_content()
