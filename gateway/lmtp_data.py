"""Reading the body of a DATA command off the wire, in bulk.

aiosmtpd reads DATA line by line into a list of bytearrays (about twice the
message in memory before it is joined into a third copy) and refuses lines
over 1001 bytes for good. This reader finds the line starts that matter (those
beginning with a dot) with one buffered search, so a message costs one
growing buffer, any line length is accepted, and nothing past the final
".\\r\\n" is consumed: commands pipelined behind the data stay in the stream.
"""

import asyncio
from dataclasses import dataclass

# Where a dot starts a line: either the end of data or a stuffed dot.
DOT_AT_LINE_START = b"\r\n."


@dataclass
class Body:
    data: bytearray | None  # None when the message was over the limit (then discarded)
    size: int  # bytes after un-stuffing, counted even when discarded


class _Collector:
    def __init__(self, limit):
        self.limit = limit
        self.data = bytearray()
        self.size = 0

    def keep(self, chunk):
        self.size += len(chunk)
        if self.data is None:
            return
        if self.limit and self.size > self.limit:
            # Over the limit: stop holding bytes, but read on to the end so
            # the connection stays in step for the reply.
            self.data = None
            return
        self.data += chunk


async def read_body(reader: asyncio.StreamReader, limit=None, on_progress=None) -> Body:
    """Read dot-stuffed data up to and including the final ".\\r\\n"; return
    it un-stuffed. `limit` bounds the kept size (None: no bound); `on_progress`
    is called as bytes arrive (to hold off idle timeouts on long uploads).

    The data is read as if preceded by the CRLF that ended the DATA command,
    so a terminator or stuffed dot in the very first line is seen too. Each
    state names what the bytes consumed so far end with."""
    body = _Collector(limit)
    state = "line_start"  # just after CRLF
    while True:
        if state == "bulk":  # inside a line: search for the next dot at a line start
            try:
                chunk = await reader.readuntil(DOT_AT_LINE_START)
            except asyncio.LimitOverrunError as overrun:
                # A long stretch without one: keep what is safe to take (the
                # reader holds back a possible partial separator).
                body.keep(await reader.readexactly(overrun.consumed))
                if on_progress:
                    on_progress()
                continue
            body.keep(chunk[:-1])  # the CRLF is content, the dot is not (yet)
            if on_progress:
                on_progress()
            state = "dot"
            continue

        byte = await reader.readexactly(1)
        if state == "line_start":
            if byte == b".":
                state = "dot"
            elif byte == b"\r":
                state = "cr"
            else:
                body.keep(byte)
                state = "bulk"
        elif state == "cr":  # a CR that may begin a CRLF
            if byte == b"\n":
                body.keep(b"\r\n")
                state = "line_start"
            elif byte == b"\r":
                body.keep(b"\r")
            else:
                body.keep(b"\r" + byte)
                state = "bulk"
        elif state == "dot":  # a dot at a line start: the end, or stuffing to drop
            if byte == b"\r":
                state = "dot_cr"
            else:
                body.keep(byte)
                state = "bulk"
        elif state == "dot_cr":
            if byte == b"\n":
                return Body(body.data, body.size)
            if byte == b"\r":
                body.keep(b"\r")
                state = "cr"
            else:
                body.keep(b"\r" + byte)
                state = "bulk"
