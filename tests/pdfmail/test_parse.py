from gateway.pdfmail.parse import parse_message
from gateway.pdfmail.rawmime import raw_message_bodies
from tests.pdfmail.messages import add_file, add_inline_image, message


def test_alternative_bodies_and_inline_images_are_not_attachments():
    msg = message(text="plain", html='<img src="cid:logo@example.com">')
    add_inline_image(msg)
    add_file(msg, "a.pdf", b"%PDF", "application/pdf")
    parsed = parse_message(msg.as_bytes())
    assert parsed.html is not None
    assert parsed.text is None
    assert list(parsed.inline) == ["logo@example.com"]
    assert [(a.filename, a.content_type, a.data()) for a in parsed.attachments] == [
        ("a.pdf", "application/pdf", b"%PDF")
    ]


def test_prefer_plain():
    parsed = parse_message(message(text="plain", html="<p>html</p>").as_bytes(), prefer="plain")
    assert parsed.text == "plain\n"
    assert parsed.html is None


def test_file_names_are_names_not_paths():
    msg = message(text="x")
    add_file(msg, "../../etc/passwd", b"1")
    add_file(msg, "C:\\Users\\ann\\report.doc", b"2", "application/msword")
    add_file(msg, "evil\x07name\x1b.txt", b"3", "text/plain")
    names = [a.filename for a in parse_message(msg.as_bytes()).attachments]
    assert names == ["passwd", "report.doc", "evilname.txt"]


def test_unnamed_attachment_gets_a_name():
    raw = (
        b"From: a@example.com\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n"
        b"--zz\r\nContent-Type: text/plain\r\n\r\nbody\r\n"
        b"--zz\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERg==\r\n--zz--\r\n"
    )
    [att] = parse_message(raw).attachments
    assert (att.filename, att.data()) == ("attachment-1.pdf", b"%PDF")


def test_raw_bodies_of_nested_messages_in_order():
    raw = (
        b"Content-Type: multipart/mixed; boundary=outer\r\n\r\npreamble\r\n"
        b"--outer\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
        b"--outer\r\nContent-Type: multipart/mixed; boundary=inner\r\n\r\n"
        b"--inner\r\nContent-Type: message/rfc822\r\n\r\nSubject: one\r\n\r\nfirst\r\n"
        b"--inner--\r\n"
        b"--outer\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"U3ViamVjdDogdHdvDQoNCnNlY29uZA0K\r\n"
        b"--outer--\r\nepilogue\r\n"
    )
    assert raw_message_bodies(raw) == [b"Subject: one\r\n\r\nfirst", b"Subject: two\r\n\r\nsecond\r\n"]
    names = [a.filename for a in parse_message(raw).attachments]
    assert names == ["one.eml", "two.eml"]
