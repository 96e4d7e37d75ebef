"""The DATA reader: what goes in dot-stuffed comes out exactly as sent, and
whatever follows the final dot stays in the stream for the next command."""

import asyncio
import random

import pytest

from gateway.lmtp_data import read_body


def stuffed(content):
    """Content (CRLF-terminated lines, bare CRs allowed) as it goes on the wire."""
    head = b"." if content.startswith(b".") else b""
    return head + content.replace(b"\r\n.", b"\r\n..") + b".\r\n"


def read(wire, *, limit=None, buffer=1024, pieces=None):
    """Feed `wire` to a StreamReader (in `pieces` if given) and read one body;
    returns (body, what is left unread)."""

    async def run():
        reader = asyncio.StreamReader(limit=buffer)
        for piece in pieces or [wire]:
            reader.feed_data(piece)
        reader.feed_eof()
        body = await read_body(reader, limit)
        return body, await reader.read()

    return asyncio.run(run())


def split_randomly(data, rng):
    cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(0, 6))))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\r\n",
        b".\r\n",
        b"..\r\n",
        b"x\r\n",
        b"\r\n\r\n",
        b".hidden\r\n.\r\n..\r\nend\r\n",
        b"a\rb\r\r\n.\r\r\n",
        b"Subject: \xe9t\xe9\r\n\r\n\x80\xff\x00 eight bit\r\n",
    ],
)
def test_edge_cases_come_out_as_sent(content):
    body, rest = read(stuffed(content) + b"QUIT\r\n")
    assert bytes(body.data) == content
    assert body.size == len(content)
    assert rest == b"QUIT\r\n"


def reference_decode(wire):
    """RFC 5321 4.5.2 said plainly: the data ends at the first CRLF.CRLF
    (counting the CRLF that ended DATA), and one dot is removed from every
    line that starts with one."""
    wire = b"\r\n" + wire
    end = wire.index(b"\r\n.\r\n")
    return wire[: end + 2].replace(b"\r\n.", b"\r\n")[2:], wire[end + 5 :]


def test_random_wire_bytes_in_random_pieces_decode_like_the_rfc_says():
    # Made of the bytes that matter to the framing (dots, CR, LF), cut
    # anywhere, stuffed properly or not.
    rng = random.Random(2033)
    for _ in range(3000):
        wire = bytes(rng.choice(b".\r\na") for _ in range(rng.randint(0, 30))) + b"\r\n.\r\nNEXT\r\n"
        content, rest = reference_decode(wire)
        body, left = read(wire, buffer=8, pieces=split_randomly(wire, rng))
        assert (bytes(body.data), left) == (content, rest), wire


def test_lines_far_longer_than_the_buffer_are_kept():
    content = b"x" * 100_000 + b"\r\n." + b"y" * 50_000 + b"\r\nshort\r\n"
    body, rest = read(stuffed(content), buffer=1024)
    assert bytes(body.data) == content
    assert rest == b""


def test_over_the_limit_is_counted_but_not_kept():
    content = b"z" * 5000 + b"\r\n"
    body, rest = read(stuffed(content) + b"RSET\r\n", limit=4000)
    assert body.data is None
    assert body.size == len(content)
    assert rest == b"RSET\r\n"


def test_exactly_the_limit_is_kept():
    content = b"z" * 3998 + b"\r\n"
    body, _ = read(stuffed(content), limit=4000)
    assert bytes(body.data) == content


def test_connection_closed_before_the_end_is_an_error():
    with pytest.raises(asyncio.IncompleteReadError):
        read(b"Subject: cut off\r\nhalf a mes")
