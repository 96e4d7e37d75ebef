"""With no next hop configured, outputs land in a folder as .eml files."""

import os

import pytest

from gateway import outbox
from gateway.delivery import deliver
from gateway.models import Delivery, Message, Recipient
from tests.support.delivery_rows import MESSAGE, make_delivery, reload


@pytest.fixture
def outbox_dir(settings, tmp_path):
    settings.LOCKPOST_NEXT_HOP = ""
    settings.LOCKPOST_OUTBOX_DIR = tmp_path / "outbox"
    return settings.LOCKPOST_OUTBOX_DIR


@pytest.mark.django_db
def test_each_output_is_written_as_an_eml_file_with_its_envelope(outbox_dir):
    delivery = make_delivery(["bob@example.net", "carol@example.net"])

    deliver(delivery.pk)

    [path] = list(outbox_dir.iterdir())
    assert path.name == f"{delivery.message.queue_id}-plain.eml"
    assert path.read_bytes() == (
        b"Return-Path: <alice@example.org>\r\n"
        b"X-Lockpost-Envelope-To: bob@example.net\r\n"
        b"X-Lockpost-Envelope-To: carol@example.net\r\n" + MESSAGE
    )
    delivery, message, recipients = reload(delivery)
    assert delivery.state == Delivery.State.DELIVERED
    assert message.state == Message.State.DELIVERED
    assert {r.state for r in recipients} == {Recipient.State.DELIVERED}
    assert path.name in recipients[0].reply


@pytest.mark.django_db
def test_an_outbox_that_cannot_be_written_defers(outbox_dir):
    outbox_dir.write_text("a file where the folder should be")
    delivery = make_delivery(["bob@example.net"])

    deliver(delivery.pk)

    delivery, _, [bob] = reload(delivery)
    assert delivery.state == Delivery.State.DEFERRED
    assert bob.state == Recipient.State.PENDING
    assert "outbox" in bob.reply


def test_writing_again_replaces_the_file_and_leaves_no_temporary_files(tmp_path):
    outbox.write(tmp_path, "Q-plain.eml", "a@example.org", ["b@example.net"], b"Subject: one\r\n\r\n")
    outbox.write(tmp_path, "Q-plain.eml", "a@example.org", ["b@example.net"], b"Subject: two\r\n\r\n")

    assert os.listdir(tmp_path) == ["Q-plain.eml"]
    assert (tmp_path / "Q-plain.eml").read_bytes().endswith(b"Subject: two\r\n\r\n")


def test_an_address_cannot_add_a_header():
    headers = outbox.envelope_headers("a@example.org\r\nBcc: x@evil.test", ["b@example.net\nX-Evil: 1"])
    assert headers.count(b"\r\n") == 2
    assert b"\nBcc" not in headers
    assert b"\nX-Evil" not in headers


def test_file_names_are_safe():
    name = outbox.file_name("ABC123", "../../etc/passwd")
    assert "/" not in name
    assert name.startswith("ABC123-")
    assert name.endswith(".eml")
