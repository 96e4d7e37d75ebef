"""A corpus of whole messages, positive and negative, through scan_message:
every place a card number can hide, and the verdict for each."""

import base64
import io

import pytest

from dlp.extract import extract
from dlp.rules import Rule
from dlp.scan import scan_message
from tests.dlp import builders

RULES = (
    Rule("cards", "detector", detector="credit_card", action="quarantine"),
    Rule("iban", "detector", detector="iban", action="force_encrypt"),
    Rule("falcon", "keywords", keywords=("Project Falcon",), action="warn"),
)
CARD = "4111 1111 1111 1111"
MASKED = "4111 **** **** 1111"


def verdict_of(msg):
    raw = msg if isinstance(msg, bytes) else msg.as_bytes()
    return scan_message(RULES, raw)


def card_locations(verdict):
    return [(e.masked, e.location) for hit in verdict.hits if hit.rule == "cards" for e in hit.evidence]


def test_card_in_plain_text_body():
    verdict = verdict_of(builders.message(f"Here is my card {CARD}, thanks"))
    assert card_locations(verdict) == [(MASKED, "body text/plain")]
    assert verdict.action == "quarantine"


def test_card_in_subject():
    assert card_locations(verdict_of(builders.message("hi", subject=f"card {CARD}"))) == [(MASKED, "subject")]


def test_card_in_quoted_printable_body():
    msg = builders.message(f"caf\u00e9 card=\n{CARD} " + "x" * 200, cte="quoted-printable")
    raw = msg.as_bytes()
    assert b"quoted-printable" in raw
    assert card_locations(verdict_of(raw)) == [(MASKED, "body text/plain")]


def test_card_in_soft_broken_quoted_printable_line():
    raw = (
        b"Subject: qp\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\ncard 4111 11=\r\n11 1111 =31111\r\n"
    )
    assert card_locations(verdict_of(raw)) == [(MASKED, "body text/plain")]


@pytest.mark.parametrize(
    "html",
    [
        "<p>card 4111 1111 1111 1111</p>",
        "<p>card 4111<b>1111</b>1111<span style='x'>1111</span></p>",
        "<p>card 4111&nbsp;1111&#32;1111&#x20;1111</p>",
        "<p>card &#52;&#49;&#49;&#49; 1111 1111 1111</p>",
        "<p>card 4111<!-- hidden -->1111<font>1111</font>1111</p>",
        "<div>card 4111 <i>1111</i> <u>1111</u> 1111</div>",
    ],
)
def test_card_in_html_with_entities_or_tags_between_groups(html):
    verdict = verdict_of(builders.message("see html", html=html))
    assert card_locations(verdict) == [(MASKED, "body text/html")]


def test_html_scripts_and_styles_are_not_text_but_visible_text_is():
    html = "<style>.a{}</style><script>var x = 1;</script><p>Project&nbsp;<b>Falcon</b></p>"
    verdict = verdict_of(builders.message("x", html=html))
    assert verdict.rules_hit == ["falcon"]
    assert verdict.action == "warn"


def test_card_in_base64_text_attachment_with_charset():
    msg = builders.message("see attachment")
    msg.add_attachment(
        f"Kaart: {CARD} \u00e9\u00e8".encode("utf-16"),
        maintype="text",
        subtype="plain",
        filename="card.txt",
        params={"charset": "utf-16"},
    )
    raw = msg.as_bytes()
    assert b"Content-Transfer-Encoding: base64" in raw
    assert base64.b64encode(CARD.encode()) not in raw
    assert card_locations(verdict_of(raw)) == [(MASKED, "attachment card.txt")]


def test_csv_json_and_xml_attachments():
    msg = builders.message("data")
    builders.attach(msg, b"name,card\nalice,4111111111111111\n", "export.csv", "text/csv")
    builders.attach(msg, b'{"iban": "NL91ABNA0417164300"}', "data.json", "application/json")
    builders.attach(msg, b"<r><note>Project Falcon</note></r>", "note.xml", "application/xml")
    verdict = verdict_of(msg)
    assert card_locations(verdict) == [(MASKED, "attachment export.csv")]
    assert verdict.rules_hit == ["cards", "iban", "falcon"]
    assert verdict.action == "quarantine"


def test_card_in_docx_attachment():
    msg = builders.attach(builders.message("report"), builders.docx("Intro", f"Card: {CARD}"), "report.docx")
    assert card_locations(verdict_of(msg)) == [(MASKED, "attachment report.docx")]


def test_card_split_across_runs_in_docx():
    import docx

    document = docx.Document()
    paragraph = document.add_paragraph("Card 4111 11")
    paragraph.add_run("11 1111").bold = True
    paragraph.add_run(" 1111")
    buf = io.BytesIO()
    document.save(buf)
    msg = builders.attach(builders.message("report"), buf.getvalue(), "runs.docx")
    assert card_locations(verdict_of(msg)) == [(MASKED, "attachment runs.docx")]


def test_card_in_xlsx_attachment_as_text_and_as_number():
    data = builders.xlsx([["name", "card"], ["alice", CARD], ["bob", 5555555555554444]])
    verdict = verdict_of(builders.attach(builders.message("sheet"), data, "cards.xlsx"))
    assert card_locations(verdict) == [
        (MASKED, "attachment cards.xlsx"),
        ("5555 **** **** 4444", "attachment cards.xlsx"),
    ]


def test_card_in_pdf_attachment():
    msg = builders.attach(builders.message("pdf"), builders.pdf("Statement", f"Card {CARD}"), "statement.pdf")
    assert card_locations(verdict_of(msg)) == [(MASKED, "attachment statement.pdf")]


def test_card_in_pdf_rendered_by_weasyprint():
    import weasyprint

    data = weasyprint.HTML(string=f"<h1>Invoice</h1><p>Paid with {CARD}</p>").write_pdf()
    msg = builders.attach(builders.message("pdf"), data, "invoice.pdf", "application/pdf")
    assert card_locations(verdict_of(msg)) == [(MASKED, "attachment invoice.pdf")]


def test_pptx_and_odt_attachments():
    msg = builders.message("decks")
    builders.attach(msg, builders.pptx("Roadmap", "Project Falcon launches"), "deck.pptx")
    builders.attach(msg, builders.odt("Rekening", "NL91 ABNA 0417 1643 00"), "brief.odt")
    verdict = verdict_of(msg)
    assert {h.rule: h.evidence[0].location for h in verdict.hits} == {
        "falcon": "attachment deck.pptx",
        "iban": "attachment brief.odt",
    }


def test_card_in_zip_inside_zip():
    inner = builders.zip_of({"c.xlsx": builders.xlsx([[CARD]]), "readme.txt": b"nothing here"})
    outer = builders.zip_of({"b.zip": inner})
    msg = builders.attach(builders.message("archive"), outer, "a.zip", "application/zip")
    assert card_locations(verdict_of(msg)) == [(MASKED, "attachment a.zip/b.zip/c.xlsx")]


def test_renamed_archive_is_still_opened():
    data = builders.zip_of({"notes.txt": f"card {CARD}".encode()})
    msg = builders.attach(builders.message("pic"), data, "holiday.jpg", "image/jpeg")
    assert card_locations(verdict_of(msg)) == [(MASKED, "attachment holiday.jpg/notes.txt")]


def test_card_inside_attached_message():
    inner = builders.message("fine", subject="forwarded")
    builders.attach(inner, builders.docx(f"card {CARD}"), "old.docx")
    outer = builders.message("see forwarded mail")
    outer.add_attachment(inner)
    assert card_locations(verdict_of(outer)) == [(MASKED, "message/rfc822 > attachment old.docx")]


def test_message_attached_twice_deep():
    inner = builders.message(f"card {CARD}", subject="innermost")
    middle = builders.message("middle")
    middle.add_attachment(inner)
    outer = builders.message("outer")
    outer.add_attachment(middle)
    assert card_locations(verdict_of(outer)) == [(MASKED, "message/rfc822 > message/rfc822 > body text/plain")]


def test_iban_valid_and_invalid_in_a_message():
    valid = verdict_of(builders.message("Rekening NL91 ABNA 0417 1643 00"))
    assert [(h.rule, h.action, h.evidence[0].masked) for h in valid.hits] == [
        ("iban", "force_encrypt", "NL91 **** **** **** 00")
    ]
    assert verdict_of(builders.message("Rekening NL91 ABNA 0417 1643 01")).hits == ()


@pytest.mark.parametrize(
    "body",
    [
        "Invoice 4111111111111112 (fails Luhn)",
        "Your order 1234 5678 9012 3456 has shipped",
        "Logged at 2024-05-01 12:00:00.123456 and 1714567890123",
        "ISBN 978-0-306-40615-7",
        "Call me on +31 6 1234 5678 or +44 20 7946 0958",
        "Project Falconry club",
    ],
)
def test_clean_messages_pass(body):
    verdict = verdict_of(builders.message(body, html=f"<p>{body}</p>"))
    assert verdict.hits == ()
    assert verdict.unscannable == ()
    assert verdict.action is None


def test_chosen_headers_are_scanned():
    msg = builders.message("hi")
    msg["X-Reference"] = "Project Falcon"
    raw = msg.as_bytes()
    assert scan_message(RULES, raw).hits == ()
    verdict = scan_message(RULES, raw, headers=("subject", "x-reference"))
    assert [(h.rule, h.evidence[0].location) for h in verdict.hits] == [("falcon", "header x-reference")]


def test_images_are_skipped_quietly():
    msg = builders.attach(
        builders.message("photo"), b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40, "a.png", "image/png"
    )
    extraction = extract(msg.as_bytes())
    assert [u.location for u in extraction.units] == ["subject", "body text/plain"]
    assert extraction.unscannable == []
