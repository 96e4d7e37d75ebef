import datetime
from pathlib import Path

import pytest

from tests.smime import pki as pki_module

# The shared samples live beside the project, never inside it.
TESTDATA = Path(__file__).resolve().parents[2].parent / "shared" / "testdata"


@pytest.fixture(scope="session")
def pki():
    return pki_module.build()


@pytest.fixture
def message():
    return (
        b"From: Alice <alice@example.test>\r\n"
        b"To: Bob <bob@example.test>\r\n"
        b"Subject: Quarterly figures\r\n"
        b"\tfolded with a tab\r\n"
        b"Date: Mon, 2 Nov 2026 10:00:00 +0000\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 7bit\r\n"
        b"\r\n"
        b"Hello Bob,\r\n"
        b"trailing spaces stay   \r\n"
        b"From the start of a line.\r\n"
        b"\r\n"
    )


@pytest.fixture
def at():
    return datetime.datetime.now(datetime.UTC)
