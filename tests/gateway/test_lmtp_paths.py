"""The LMTP listener reads plain <local@domain> paths itself (aiosmtpd's RFC
5322 parser is slow); what it reads must be what that parser reads."""

import pytest
from aiosmtpd.smtp import SMTP

from gateway.lmtp import LMTPServer

PATHS = [
    "<a@b.c>",
    "<a@b.c> SIZE=100 BODY=8BITMIME",
    "<a@b.c>\tSIZE=100",
    "<first.last+tag@sub.example.org>",
    "<o'brien@example.ie>",
    "<A@B.C>x",
    "<a@b.c> (comment) SIZE=1",
    "<a..b@c.d>",
    "<.a@c.d>",
    "<a@[192.0.2.1]>",
    '<"q u"@x.y>',
    "<>",
    " <a@b.c>",
    "<a@b.c> ",
    "<a@b..c>",
    "<a b@c.d>",
    "<a@b.c>>",
    "<@relay.example:a@b.c>",
    "a@b.c",
]


def parser(local_part_limit=0):
    server = object.__new__(LMTPServer)  # only the parsing is used
    server.local_part_limit = local_part_limit
    return server


@pytest.mark.parametrize("path", PATHS)
def test_a_path_reads_as_aiosmtpd_reads_it(path):
    server = parser()
    assert LMTPServer._getaddr(server, path) == SMTP._getaddr(server, path)


def test_a_local_part_over_the_limit_is_refused_as_aiosmtpd_refuses_it():
    server = parser(local_part_limit=3)
    assert LMTPServer._getaddr(server, "<abcd@b.c>") == SMTP._getaddr(server, "<abcd@b.c>") == (None, None)
    assert LMTPServer._getaddr(server, "<abc@b.c>") == ("abc@b.c", "")
