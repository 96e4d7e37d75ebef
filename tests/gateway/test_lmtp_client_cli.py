"""`python -m gateway.lmtp_client`: what the README tells a newcomer to type."""

import io
import sys

import pytest

from gateway.lmtp import Listener
from gateway.lmtp_client import main
from gateway.models import Message


@pytest.fixture
def listener(transactional_db):
    server = Listener(lmtp="127.0.0.1:0", smtp="").start()
    yield server
    server.stop(5)


def test_sends_standard_input_and_prints_each_reply(listener, monkeypatch, capsys):
    host, port = listener.lmtp_address
    raw = b"From: alice@example.com\r\nTo: bob@example.org\r\nSubject: hi\r\n\r\nHello.\r\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
    code = main(
        [
            "--server",
            f"{host}:{port}",
            "--from",
            "alice@example.com",
            "--to",
            "bob@example.org",
            "--to",
            "carol@example.org",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "bob@example.org: 250" in out
    assert "carol@example.org: 250" in out
    assert Message.objects.get().subject == "hi"
