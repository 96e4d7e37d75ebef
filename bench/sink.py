"""The benchmarks' next hop: a minimal SMTP receiver that keeps what it gets.

Not the tests' sink (tests/support/sink.py, aiosmtpd): that one scripts
replies, TLS and AUTH, and took about 1 ms of CPU a 14 KB message, on the
same two cores as the gateway it measured. This one speaks just the SMTP an
MTA's client needs (EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT), accepts
everything, and costs a fraction of that. aiosmtpd has no leaner mode and
the standard library no longer has an SMTP server, hence written here.

    with Sink() as sink:                     # or sink.start() ... sink.stop()
        send_to(sink.address)
        sink.received                        # [Mail(mail_from, rcpt_tos, data, at)]
"""

import asyncio
import threading
import time
from dataclasses import dataclass, field

END_OF_DATA = b"\r\n.\r\n"
# The most a DATA may hold: the largest message a benchmark sends, and more.
MOST_BYTES = 256 * 1024 * 1024
EHLO = b"250-bench-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE\r\n"


@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list
    data: bytes  # as sent, dot-stuffing undone
    at: float = field(default_factory=time.time)  # arrival, wall clock


class Sink:
    host = "127.0.0.1"

    def __init__(self):
        self.received = []
        self.port = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="bench-sink", daemon=True)
        self._server = None

    @property
    def address(self):
        return f"{self.host}:{self.port}"

    def start(self):
        self._thread.start()
        serving = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._session, self.host, 0, limit=MOST_BYTES), self._loop
        )
        self._server = serving.result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self):
        async def close():
            self._server.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    async def _session(self, reader, writer):
        writer.write(b"220 bench-sink ESMTP\r\n")
        mail_from, rcpt_tos = None, []
        try:
            while True:
                line = await reader.readuntil(b"\r\n")
                verb = line[:4].upper()
                if verb == b"EHLO":
                    writer.write(EHLO)
                elif verb == b"MAIL":
                    mail_from, rcpt_tos = _path(line), []
                    writer.write(b"250 2.1.0 OK\r\n")
                elif verb == b"RCPT":
                    rcpt_tos.append(_path(line))
                    writer.write(b"250 2.1.5 OK\r\n")
                elif verb == b"DATA":
                    writer.write(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    await writer.drain()
                    self.received.append(Mail(mail_from, rcpt_tos, await _data(reader)))
                    mail_from, rcpt_tos = None, []
                    writer.write(b"250 2.0.0 OK: queued\r\n")
                elif verb == b"QUIT":
                    writer.write(b"221 2.0.0 Bye\r\n")
                    await writer.drain()
                    break
                elif verb in (b"HELO", b"RSET", b"NOOP"):
                    mail_from, rcpt_tos = None, []
                    writer.write(b"250 2.0.0 OK\r\n")
                else:
                    writer.write(b"502 5.5.2 not here\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client went away
        finally:
            writer.close()


def _path(line):
    """The address between the angle brackets of MAIL FROM:<..> or RCPT TO:<..>."""
    start, end = line.find(b"<"), line.find(b">")
    return line[start + 1 : end].decode("utf-8", "replace") if 0 <= start < end else ""


async def _data(reader):
    """The message after DATA, up to the line holding a dot alone."""
    chunks = []
    while True:
        # Each chunk ends a line ending in a dot; the last is the dot alone.
        chunks.append(await reader.readuntil(b".\r\n"))
        # Every chunk ends a line: one that is a dot alone starts one too.
        if chunks[-1] == b".\r\n" or chunks[-1].endswith(END_OF_DATA):
            break
    # Without the end mark's ".\r\n"; a line's leading dot was doubled by the sender.
    return (b"\r\n" + b"".join(chunks)[:-3]).replace(b"\r\n.", b"\r\n")[2:]
