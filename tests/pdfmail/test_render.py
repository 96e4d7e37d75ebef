"""What the recipient reads in the PDF: headers, body, fonts for every script,
and nothing loaded from anywhere while it was made."""

import re

import pikepdf
import weasyprint

from gateway.pdfmail import encrypted_message_pdf, render_message_pdf
from gateway.pdfmail.fetcher import EmbeddedOnlyFetcher
from tests.pdfmail.messages import add_file, message
from tests.pdfmail.readers import mutool_text, pdftotext

PASSWORD = "h7Tq-Mx4p"
_BIDI = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def text_of(tmp_path, raw: bytes, **kwargs) -> str:
    path = tmp_path / "m.pdf"
    path.write_bytes(encrypted_message_pdf(raw, PASSWORD, **kwargs))
    out = pdftotext(path, PASSWORD)
    assert out.returncode == 0, out.stderr
    return _BIDI.sub("", out.stdout.decode())


def test_text_body_keeps_its_line_breaks(tmp_path):
    body = "Dear Bob,\n\nfirst line\nsecond line\n    indented line\n\n-- \nAnn\n"
    out = text_of(tmp_path, message(text=body).as_bytes())
    lines = [line.strip() for line in out.splitlines()]
    i = lines.index("first line")
    assert lines[i + 1 : i + 3] == ["second line", "indented line"]
    # (pdftotext joins "--" with the next line as a hyphenated word; mutool does not)
    path = tmp_path / "m.pdf"
    drawn = [line.strip() for line in mutool_text(path, PASSWORD).stdout.decode().splitlines()]
    assert drawn[drawn.index("--") + 1] == "Ann"


SCRIPTS = {
    "cjk": "会议纪要 第三季度预算 日本語のテキスト 한국어",
    "arabic": "مرحبا بالعالم",
    "hebrew": "שלום עולם",
    "cyrillic": "Привет, мир",
    "greek": "Καλημέρα κόσμε",
    "emoji": "🎉🔒",
    "latin": "Grüße aus Köln, ça va, Łódź",
}


def test_unicode_subject_and_body_render_in_every_script(tmp_path):
    subject = "Budget 预算 ميزانية 🔒"
    body = "\n".join(SCRIPTS.values())
    out = text_of(tmp_path, message(subject=subject, text=body).as_bytes())
    for name, sample in SCRIPTS.items():
        for word in sample.split():
            if name == "arabic" or name == "hebrew":
                # poppler may give right-to-left words in visual order
                assert word in out or word[::-1] in out, (name, word)
            else:
                assert word in out, (name, word)
    assert "Budget 预算" in out
    assert "ميزانية" in out or "ميزانية"[::-1] in out


def test_no_glyph_is_missing(tmp_path):
    """Every character was drawn with a real glyph (a missing one becomes
    .notdef, which pdftotext cannot map back)."""
    pdf = render_message_pdf(message(text="\n".join(SCRIPTS.values())).as_bytes())
    path = tmp_path / "plain.pdf"
    path.write_bytes(pdf)
    fonts = pikepdf.open(path)
    names = {str(f.get("/BaseFont")) for page in fonts.pages for f in page.Resources.Font.values()}
    assert any("CJK" in n for n in names), names
    assert any("Arabic" in n for n in names), names
    assert any("Hebrew" in n for n in names), names
    assert any("Emoji" in n for n in names), names


def test_rfc2047_headers_are_decoded(tmp_path):
    raw = (
        b"From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <juergen@example.de>\r\n"
        b"To: =?ISO-8859-1?Q?Fran=E7ois?= <francois@example.fr>\r\n"
        b"Subject: =?UTF-8?B?5Lya6K6u57qq6KaB?= =?UTF-8?Q?_und_Gr=C3=BC=C3=9Fe?=\r\n"
        b"Date: Tue, 03 Nov 2026 10:00:00 +0100\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"Caf=E9 cr=E8me\r\n"
    )
    out = text_of(tmp_path, raw)
    assert "Jürgen Müller <juergen@example.de>" in out
    assert "François <francois@example.fr>" in out
    assert "会议纪要 und Grüße" in out
    assert "Café crème" in out


def test_message_without_a_text_body(tmp_path):
    msg = message(subject="Scan")
    add_file(msg, "scan-0001.pdf", b"%PDF-1.4 opaque", "application/pdf")
    out = text_of(tmp_path, msg.as_bytes())
    assert "Scan" in out
    assert "scan-0001.pdf" in out
    assert "Attachments (1)" in out


def test_message_that_is_only_html(tmp_path):
    out = text_of(tmp_path, message(html="<h1>Invitation</h1><p>Dinner at <i>eight</i>.</p>").as_bytes())
    assert "Invitation" in out
    assert "Dinner at eight." in out


def test_labels_follow_the_language(tmp_path):
    msg = message(text="Hallo")
    add_file(msg, "a.txt", b"a", "text/plain")
    out = text_of(tmp_path, msg.as_bytes(), language="de", reply_url="https://portal.example/r")
    assert "Betreff" in out
    assert "Anhänge (1)" in out
    assert "Sicher antworten" in out
    out = text_of(tmp_path, msg.as_bytes(), language="nl")
    assert "Onderwerp" in out
    assert "Bijlagen (1)" in out


HOSTILE = """
<html><head>
<link rel="stylesheet" href="{url}/link.css">
<style>@import url("{url}/import.css"); body {{ background: url("{url}/style-bg.png"); }}</style>
<script src="{url}/script.js"></script>
</head><body background="{url}/body-bg.png">
<p>Visible text stays.</p>
<img src="{url}/tracker.png" srcset="{url}/srcset.png 2x" width="1" height="1">
<div style="background-image: url('{url}/inline-bg.png'); color: red">styled</div>
<div style="background: url({url}/shorthand.png)">shorthand</div>
<script>document.write("EXECUTED-BY-SCRIPT")</script>
<iframe src="{url}/frame.html"></iframe>
<object data="{url}/object.swf"></object><embed src="{url}/embed.swf">
<svg><image href="{url}/svg-image.png" /></svg>
<video poster="{url}/poster.png" src="{url}/video.mp4"></video>
<a href="{url}/link-is-fine">a link, not fetched</a>
<img src="file:///etc/hostname">
<form action="{url}/form"><input name="x" value="form field"></form>
<p onclick="alert(1)">Click handler removed.</p>
</body></html>
"""


def test_hostile_html_fetches_nothing_and_runs_nothing(tmp_path, recording_server):
    html = HOSTILE.format(url=recording_server.url)
    msg = message(text="plain", html=html)
    pdf = render_message_pdf(msg.as_bytes())
    (tmp_path / "m.pdf").write_bytes(pdf)
    out = pdftotext(tmp_path / "m.pdf", None).stdout.decode()
    assert "Visible text stays." in out
    assert "Click handler removed." in out
    assert "EXECUTED-BY-SCRIPT" not in out
    assert recording_server.requests == []
    assert recording_server.connections == 0
    with pikepdf.open(tmp_path / "m.pdf") as doc:
        assert "/Names" not in doc.Root or "/JavaScript" not in doc.Root.Names
        assert "/OpenAction" not in doc.Root
        assert "/AcroForm" not in doc.Root
    assert b"/JavaScript" not in pdf
    assert b"/JS" not in pdf


def test_the_fetcher_alone_refuses_everything_but_embedded_content(recording_server):
    """Defence in depth: even HTML that skipped sanitising loads nothing."""
    fetcher = EmbeddedOnlyFetcher({"pic@x": ("image/png", b"not really a png")})
    html = (
        HOSTILE.format(url=recording_server.url)
        + '<img src="cid:pic@x"><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">'
    )
    weasyprint.HTML(string=html, url_fetcher=fetcher).write_pdf()
    assert recording_server.requests == []
    assert recording_server.connections == 0
    assert any(u.startswith(recording_server.url) for u in fetcher.refused)
    assert "file:///etc/hostname" in fetcher.refused
    assert not any(u.startswith(("cid:", "data:")) for u in fetcher.refused)
