"""Hostile and broken attachments end quickly as "unscannable", with the
reason, and the rest of the message is still scanned."""

import io
import time
import zipfile

import pytest

from dlp.extract import Limits, extract
from dlp.rules import Rule
from dlp.scan import scan_message
from tests.dlp import builders

CARDS = (Rule("cards", "detector", detector="credit_card", action="warn"),)
CARD = "4111 1111 1111 1111"


def scan(msg, **kwargs):
    started = time.perf_counter()
    verdict = scan_message(CARDS, msg.as_bytes(), **kwargs)
    return verdict, time.perf_counter() - started


def reasons(verdict):
    return [(u.location, u.reason) for u in verdict.unscannable]


def test_zip_bomb_ends_quickly_as_unscannable():
    bomb = builders.zip_bomb(gigabytes=2)
    assert len(bomb) < 3 * 2**20
    assert zipfile.ZipFile(io.BytesIO(bomb)).infolist()[0].file_size == 2 * 2**30
    msg = builders.message(f"card {CARD}")
    builders.attach(msg, bomb, "invoice.zip", "application/zip")
    verdict, seconds = scan(msg)
    assert seconds < 2
    [(location, reason)] = reasons(verdict)
    assert location == "attachment invoice.zip/zeros.txt"
    assert "possible decompression bomb" in reason
    assert verdict.rules_hit == ["cards"]  # the body was still scanned
    assert verdict.action == "quarantine"  # unscannable outranks the rule's warn
    assert scan_message(CARDS, msg.as_bytes(), unscannable_action="block").action == "block"


def test_nested_zip_bomb_hits_a_limit():
    layer = builders.zip_of({"zeros.txt": b"\0" * 2**20})
    for _ in range(5):
        layer = builders.zip_of({f"{i}.zip": layer for i in range(10)})  # 10**5 MB at the bottom
    verdict, seconds = scan(builders.attach(builders.message("hi"), layer, "42.zip"))
    assert seconds < 5
    [(location, reason)] = reasons(verdict)
    assert location.startswith("attachment 42.zip/0.zip/0.zip/")
    assert "possible decompression bomb" in reason


def test_archive_with_too_many_files_hits_the_file_limit():
    layer = builders.zip_of({"note.txt": b"hello"})
    for _ in range(5):
        layer = builders.zip_of({f"{i}.zip": layer for i in range(10)})  # 10**5 files at the bottom
    assert len(layer) < 200_000
    verdict, seconds = scan(builders.attach(builders.message("hi"), layer, "42.zip"))
    assert seconds < 5
    assert any("more than 1000 parts" in reason for _, reason in reasons(verdict))


def test_deep_nesting_is_refused():
    layer = builders.zip_of({"card.txt": f"card {CARD}".encode()})
    for depth in range(12):
        layer = builders.zip_of({f"level{depth}.zip": layer})
    verdict, _ = scan(builders.attach(builders.message("hi"), layer, "deep.zip"))
    assert verdict.hits == ()
    [(location, reason)] = reasons(verdict)
    assert reason == "nested more than 8 levels deep"
    assert location.startswith("attachment deep.zip/level11.zip/level10.zip/")


def test_truncated_docx_is_unscannable():
    data = builders.docx(f"card {CARD}")
    msg = builders.attach(builders.message("report"), data[: len(data) // 2], "report.docx")
    verdict, seconds = scan(msg)
    assert seconds < 2
    [(location, reason)] = reasons(verdict)
    assert location == "attachment report.docx"
    assert reason.startswith("corrupt archive")
    assert verdict.action == "quarantine"


def test_docx_with_broken_xml_is_unscannable():
    source = zipfile.ZipFile(io.BytesIO(builders.docx("hello")))
    files = {name: source.read(name) for name in source.namelist()}
    files["word/document.xml"] = files["word/document.xml"][:-40]
    msg = builders.attach(builders.message("report"), builders.zip_of(files), "broken.docx")
    verdict, _ = scan(msg)
    [(location, reason)] = reasons(verdict)
    assert location == "attachment broken.docx"
    assert reason.startswith("corrupt XML part")


def test_docx_with_entity_expansion_is_refused():
    source = zipfile.ZipFile(io.BytesIO(builders.docx("hello")))
    files = {name: source.read(name) for name in source.namelist()}
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
        + b"".join(
            b'<!ENTITY %s "%s">' % (chr(98 + i).encode(), b"&" + chr(97 + i).encode() + b";" * 1) for i in range(8)
        )
        + b"]><w:document>&i;</w:document>"
    )
    files["word/document.xml"] = laughs
    verdict, _ = scan(builders.attach(builders.message("x"), builders.zip_of(files), "laughs.docx"))
    assert reasons(verdict) == [("attachment laughs.docx", "XML part declares a DTD")]


def test_corrupt_pdf_is_unscannable():
    data = builders.pdf(f"card {CARD}")
    broken = data[:60] + b"\x00garbage" * 50
    verdict, seconds = scan(builders.attach(builders.message("x"), broken, "broken.pdf", "application/pdf"))
    assert seconds < 2
    [(location, reason)] = reasons(verdict)
    assert location == "attachment broken.pdf"
    assert "PDF" in reason


def test_encrypted_pdf_is_unscannable():
    import pikepdf

    source = pikepdf.open(io.BytesIO(builders.pdf(f"card {CARD}")))
    buf = io.BytesIO()
    source.save(buf, encryption=pikepdf.Encryption(user="secret", owner="owner", R=6))
    verdict, _ = scan(builders.attach(builders.message("x"), buf.getvalue(), "locked.pdf", "application/pdf"))
    assert reasons(verdict) == [("attachment locked.pdf", "encrypted PDF")]
    assert verdict.hits == ()


def test_pdf_with_only_an_owner_password_is_read():
    import pikepdf

    source = pikepdf.open(io.BytesIO(builders.pdf(f"card {CARD}")))
    buf = io.BytesIO()
    source.save(buf, encryption=pikepdf.Encryption(user="", owner="owner", R=4))
    verdict, _ = scan(builders.attach(builders.message("x"), buf.getvalue(), "open.pdf", "application/pdf"))
    assert verdict.unscannable == ()
    assert verdict.rules_hit == ["cards"]


def test_encrypted_zip_member_is_unscannable():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("secret.txt", b"ciphertext")
        archive.writestr("plain.txt", f"card {CARD}")
    # zipfile writes no encrypted members: set the "encrypted" flag bit in
    # the local header and the central directory entry of the first one.
    data = bytearray(buf.getvalue())
    data[6] |= 0x1
    data[data.index(b"PK\x01\x02") + 8] |= 0x1
    verdict, _ = scan(builders.attach(builders.message("x"), bytes(data), "locked.zip"))
    assert reasons(verdict) == [("attachment locked.zip/secret.txt", "secret.txt: encrypted archive member")]
    assert verdict.rules_hit == ["cards"]


def test_time_limit_stops_the_walk():
    msg = builders.attach(builders.message(f"card {CARD}"), builders.docx("x"), "a.docx")
    verdict, _ = scan(msg, limits=Limits(max_seconds=0))
    assert [reason for _, reason in reasons(verdict)] == ["scanning took longer than 0 seconds"]
    assert verdict.action == "quarantine"


def test_expanded_size_limit_covers_the_whole_message():
    msg = builders.message("x")
    for i in range(3):
        builders.attach(msg, b"A" * 400_000, f"part{i}.txt", "text/plain")
    extraction = extract(msg.as_bytes(), Limits(max_total_bytes=1_000_000))
    assert [u.location for u in extraction.units] == [
        "subject",
        "body text/plain",
        "attachment part0.txt",
        "attachment part1.txt",
    ]
    [problem] = extraction.unscannable
    assert problem.location == "attachment part2.txt"
    assert problem.reason == (
        "expanded content exceeds 1000000 bytes (a part declares 400000 bytes): possible decompression bomb"
    )


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff" * 1000,
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\n4111111111111111",
        b"Subject: =?utf-8?b?!!!?=\r\nContent-Type: text/plain; charset=no-such-charset\r\n\r\n4111111111111111\r\n",
        b"Content-Type: application/zip\r\nContent-Transfer-Encoding: base64\r\n\r\nUEsDBAo=!!!\r\n",
    ],
)
def test_malformed_mail_never_raises(raw):
    verdict = scan_message(CARDS, raw)
    assert verdict.action in (None, "warn", "quarantine")
