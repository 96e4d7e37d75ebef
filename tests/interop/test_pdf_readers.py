"""Encrypted message PDFs, as qpdf, poppler and mupdf read them."""

import contextlib
import hashlib
import zlib

import pikepdf
import pytest

from gateway.pdfmail import encrypted_message_pdf
from tests.pdfmail.messages import add_file, add_inline_image, message, random_bytes
from tests.pdfmail.readers import mutool_text, pdfdetach_all, pdfdetach_list, pdftotext, qpdf_check

PASSWORD = "Kx7m-Tq4p-Zr9w"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BODY = "The merger closes on Friday; keep this quiet until then."


def write_pdf(tmp_path, msg, aes=256, **kwargs):
    path = tmp_path / f"message-{aes}.pdf"
    path.write_bytes(encrypted_message_pdf(msg.as_bytes(), PASSWORD, aes=aes, **kwargs))
    return path


@pytest.mark.parametrize(("aes", "revision"), [(256, 6), (128, 4)])
def test_every_reader_opens_it_with_the_password(tmp_path, aes, revision):
    msg = message(text=BODY + "\nSecond line.\n", cc="carol@example.net")
    add_file(msg, "figures.csv", b"q1,q2\n10,20\n", "text/csv")
    add_file(msg, "blob.bin", random_bytes(5000))
    path = write_pdf(tmp_path, msg, aes=aes)

    check = qpdf_check(path, PASSWORD)
    assert check.returncode == 0, check.stdout + check.stderr
    assert b"No syntax or stream encoding errors" in check.stdout

    text = pdftotext(path, PASSWORD)
    assert text.returncode == 0
    out = text.stdout.decode()
    assert BODY in out
    assert "Second line." in out
    for value in ("Ann Smith <ann@example.com>", "bob@example.org", "carol@example.net", "Quarterly figures"):
        assert value in out
    assert "figures.csv" in out  # the list of attachments

    drawn = mutool_text(path, PASSWORD)
    assert drawn.returncode == 0, drawn.stderr
    assert BODY in drawn.stdout.decode()

    with pikepdf.open(path, password=PASSWORD) as pdf:
        assert revision == pdf.encryption.R
        assert pdf.encryption.stream_method.name.lower() == ("aesv3" if aes == 256 else "aes")


@pytest.mark.parametrize("aes", [256, 128])
def test_without_or_with_a_wrong_password_every_reader_refuses(tmp_path, aes):
    msg = message(text=BODY)
    add_file(msg, "secret.txt", b"attachment secret\n", "text/plain")
    path = write_pdf(tmp_path, msg, aes=aes)
    for password in (None, "wrong-password"):
        assert qpdf_check(path, password).returncode != 0
        text = pdftotext(path, password)
        assert text.returncode != 0
        assert BODY.encode() not in text.stdout
        assert pdfdetach_all(path, password, tmp_path / "out").returncode != 0
        assert not list((tmp_path / "out").iterdir())
        assert mutool_text(path, password).returncode != 0


def test_the_raw_pdf_does_not_hold_the_text_in_clear(tmp_path):
    msg = message(subject="Project Nightingale", text=BODY)
    add_file(msg, "plain.txt", b"attachment words in clear\n" * 50, "text/plain")
    add_file(msg, "stored.bin", b"unmistakable-marker-" * 500, "image/png")  # stored, not deflated
    raw = write_pdf(tmp_path, msg).read_bytes()
    for needle in (b"merger", b"Nightingale", b"attachment words", b"unmistakable-marker", b"plain.txt", b"Ann Smith"):
        assert needle not in raw
        assert needle.decode().encode("utf-16-be") not in raw
    # and no stream inflates to it either (encrypted streams do not inflate)
    for chunk in raw.split(b"stream\r\n")[1:] + raw.split(b"stream\n")[1:]:
        with contextlib.suppress(zlib.error):
            assert b"merger" not in zlib.decompressobj().decompress(chunk[:100000])


def test_attachments_come_out_byte_identical_with_name_and_type(tmp_path):
    files = {
        "report.pdf": (b"%PDF-1.4 fake but opaque " + random_bytes(3000), "application/pdf"),
        "notes.txt": ("Grüße, naïve café\r\nline 2\n".encode(), "text/plain"),
        "photo.jpg": (random_bytes(40000), "image/jpeg"),
        "Überweisung 2026.xlsx": (random_bytes(7000), XLSX),
        "empty.dat": (b"", "application/octet-stream"),
    }  # fmt: skip
    msg = message(text=BODY)
    for name, (data, ctype) in files.items():
        add_file(msg, name, data, ctype)
    path = write_pdf(tmp_path, msg)

    assert sorted(pdfdetach_list(path, PASSWORD)) == sorted(files)
    out = tmp_path / "detached"
    assert pdfdetach_all(path, PASSWORD, out).returncode == 0
    for name, (data, _ctype) in files.items():
        assert (out / name).read_bytes() == data, name
    with pikepdf.open(path, password=PASSWORD) as pdf:
        types = {name: spec.obj.EF.F.get("/Subtype") for name, spec in pdf.attachments.items()}
    for name, (_data, ctype) in files.items():
        assert str(types[name]) == "/" + ctype, (name, types[name])


def test_an_attached_message_comes_out_as_eml_with_its_exact_bytes(tmp_path):
    # Odd spacing and folding that no email policy would write back the same.
    inner = (
        b"From: Carol <carol@example.net>\r\nTo: ann@example.com\r\nSubject: Original offer\r\n"
        b"X-Odd:   spacing kept\r\n\tand folding\r\nMessage-ID: <inner@example.net>\r\n\r\nThe offer stands.\r\n"
    )
    raw = (
        b"From: Ann <ann@example.com>\r\nTo: bob@example.org\r\nSubject: Fwd: offer\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        b"--b1\r\nContent-Type: text/plain\r\n\r\nSee the forwarded offer.\r\n"
        b"--b1\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n" + inner + b"\r\n--b1--\r\n"
    )
    path = tmp_path / "fwd.pdf"
    path.write_bytes(encrypted_message_pdf(raw, PASSWORD))
    assert pdfdetach_list(path, PASSWORD) == ["Original offer.eml"]
    out = tmp_path / "detached"
    assert pdfdetach_all(path, PASSWORD, out).returncode == 0
    assert (out / "Original offer.eml").read_bytes() == inner
    assert "See the forwarded offer." in pdftotext(path, PASSWORD).stdout.decode()


def test_twenty_attachments(tmp_path):
    msg = message(text=BODY)
    files = {f"file-{i:02d}.bin": random_bytes(1000 + i) for i in range(20)}
    for name, data in files.items():
        add_file(msg, name, data)
    path = write_pdf(tmp_path, msg)
    assert len(pdfdetach_list(path, PASSWORD)) == 20
    out = tmp_path / "detached"
    assert pdfdetach_all(path, PASSWORD, out).returncode == 0
    assert {p.name: p.read_bytes() for p in out.iterdir()} == files
    assert "Attachments (20)" in pdftotext(path, PASSWORD).stdout.decode()


def test_same_file_name_twice_keeps_both(tmp_path):
    msg = message(text=BODY)
    add_file(msg, "scan.pdf", b"first", "application/pdf")
    add_file(msg, "scan.pdf", b"second", "application/pdf")
    path = write_pdf(tmp_path, msg)
    out = tmp_path / "detached"
    assert pdfdetach_all(path, PASSWORD, out).returncode == 0
    assert sorted(p.read_bytes() for p in out.iterdir()) == [b"first", b"second"]


def test_a_25_mb_attachment(tmp_path):
    big = random_bytes(25 * 1024 * 1024)
    msg = message(text=BODY)
    add_file(msg, "video.mp4", big, "video/mp4")
    path = write_pdf(tmp_path, msg)
    assert qpdf_check(path, PASSWORD).returncode == 0
    out = tmp_path / "detached"
    assert pdfdetach_all(path, PASSWORD, out).returncode == 0
    assert hashlib.sha256((out / "video.mp4").read_bytes()).digest() == hashlib.sha256(big).digest()
    assert BODY in pdftotext(path, PASSWORD).stdout.decode()


def test_html_body_with_inline_image(tmp_path):
    msg = message(text="plain version", html='<p>Our <b>new logo</b>:</p><img src="cid:logo@example.com" alt="logo">')
    add_inline_image(msg)
    path = write_pdf(tmp_path, msg)
    out = pdftotext(path, PASSWORD).stdout.decode()
    assert "Our new logo:" in out
    assert "plain version" not in out  # the HTML alternative is what is shown
    with pikepdf.open(path, password=PASSWORD) as pdf:
        images = [img for page in pdf.pages for img in page.get_images().values()]
        assert len(pdf.attachments) == 0  # the inline picture is in the body, not an attachment
    assert images, "the inline image was not drawn"
    assert (images[0].Width, images[0].Height) == (4, 4)


def test_reply_button_links_to_the_given_url(tmp_path):
    url = "https://portal.example.com/reply/eyJtIjoxfQ.sig"
    path = write_pdf(tmp_path, message(text=BODY), reply_url=url)
    assert "Reply securely" in pdftotext(path, PASSWORD).stdout.decode()
    with pikepdf.open(path, password=PASSWORD) as pdf:
        uris = [str(a.A.URI) for p in pdf.pages for a in p.get("/Annots", []) if "/A" in a and "/URI" in a.A]
    assert uris == [url]
