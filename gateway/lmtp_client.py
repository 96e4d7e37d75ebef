"""A small LMTP (and SMTP) client that reads every reply after DATA.

smtplib.LMTP reads only the first reply after DATA, so it cannot tell which
recipient the server accepted. This client can:

    with LMTPClient("127.0.0.1", 10024) as client:
        replies = client.sendmail("a@example.org", ["b@example.net", "c@example.net"], raw)
    # [RecipientReply("b@example.net", 250, "2.0.0 <b@example.net> Ok: ..."), ...]

or in one call: `send(host, port, mail_from, rcpt_tos, raw)`. Each recipient
gets its RCPT reply when refused there, its DATA reply otherwise. The data is
sent as given, except that bare CR or LF become CRLF, a final CRLF is added
when missing, and lines starting with a dot are dot-stuffed.
With `protocol="smtp"` it speaks EHLO and applies the single DATA reply to
every accepted recipient.
"""

import contextlib
import re
import socket
from dataclasses import dataclass

CRLF = b"\r\n"
BARE_EOL = re.compile(rb"\r\n|\r|\n")


@dataclass(frozen=True)
class Reply:
    code: int
    text: str

    @property
    def ok(self):
        return 200 <= self.code < 400


@dataclass(frozen=True)
class RecipientReply:
    address: str
    code: int
    text: str


class ProtocolError(Exception):
    """The server said something that is not an SMTP reply, or refused a step
    that has no recipient to blame (greeting, LHLO, MAIL, DATA)."""

    def __init__(self, message, reply=None):
        super().__init__(message if reply is None else f"{message}: {reply.code} {reply.text}")
        self.reply = reply


def wire_format(data):
    """Message bytes as they go after DATA: CRLF lines, dot-stuffed, with the
    terminating ".\\r\\n"."""
    data = bytes(data)
    crlf = data.count(CRLF)
    if data.count(b"\r") != crlf or data.count(b"\n") != crlf:  # bare CR or LF somewhere: rare, and slow to fix
        data = BARE_EOL.sub(CRLF, data)
    if data and not data.endswith(CRLF):
        data += CRLF
    if data.startswith(b"."):
        data = b"." + data
    return data.replace(b"\r\n.", b"\r\n..") + b".\r\n"


class LMTPClient:
    def __init__(self, host, port, *, protocol="lmtp", helo="localhost", timeout=60):
        self.host, self.port = host, port
        self.protocol = protocol
        self.helo = helo
        self.timeout = timeout
        self.extensions = {}
        self._sock = None
        self._file = None

    def connect(self):
        self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        # Commands and the message go out in small writes; without NODELAY the
        # last one waits for the server's delayed ACK (about 40 ms a message).
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._file = self._sock.makefile("rb")
        greeting = self.read_reply()
        if greeting.code != 220:
            raise ProtocolError("greeting refused", greeting)
        hello = self.command(f"{'LHLO' if self.protocol == 'lmtp' else 'EHLO'} {self.helo}")
        if hello.code != 250:
            raise ProtocolError("hello refused", hello)
        for line in hello.text.splitlines()[1:]:
            keyword, _, params = line.partition(" ")
            self.extensions[keyword.upper()] = params
        return self

    def send_raw(self, data):
        self._sock.sendall(data)

    def read_reply(self):
        """One reply, multi-line ones joined with newlines."""
        lines = []
        while True:
            line = self._file.readline(8192)
            if not line.endswith(b"\n"):
                raise ProtocolError(f"connection closed or reply too long: {line[:80]!r}")
            line = line.rstrip(b"\r\n").decode("utf-8", "replace")
            if len(line) < 3 or not line[:3].isdigit() or line[3:4] not in ("", " ", "-"):
                raise ProtocolError(f"not an SMTP reply: {line[:80]!r}")
            lines.append(line[4:])
            if line[3:4] != "-":
                return Reply(int(line[:3]), "\n".join(lines))

    def command(self, line):
        self.send_raw(line.encode("ascii") + CRLF)
        return self.read_reply()

    def sendmail(self, mail_from, rcpt_tos, data, mail_options=()):
        """One transaction; a RecipientReply per recipient, in order."""
        options = "".join(f" {option}" for option in mail_options)
        reply = self.command(f"MAIL FROM:<{mail_from}>{options}")
        if reply.code != 250:
            self.command("RSET")
            raise ProtocolError("sender refused", reply)
        results = {}
        accepted = []
        for position, address in enumerate(rcpt_tos):
            reply = self.command(f"RCPT TO:<{address}>")
            if reply.code == 250:
                accepted.append(position)
            else:
                results[position] = reply
        if not accepted:
            self.command("RSET")
        else:
            reply = self.command("DATA")
            if reply.code != 354:
                raise ProtocolError("DATA refused", reply)
            self.send_raw(wire_format(data))
            if self.protocol == "lmtp":
                for position in accepted:
                    results[position] = self.read_reply()
            else:
                reply = self.read_reply()
                results.update(dict.fromkeys(accepted, reply))
        return [RecipientReply(address, results[i].code, results[i].text) for i, address in enumerate(rcpt_tos)]

    def quit(self):
        with contextlib.suppress(OSError, ProtocolError):  # closing anyway
            self.command("QUIT")
        self.close()

    def close(self):
        if self._file:
            self._file.close()
        if self._sock:
            self._sock.close()
        self._sock = self._file = None

    def __enter__(self):
        return self.connect()

    def __exit__(self, *exc):
        self.quit()


def send(host, port, mail_from, rcpt_tos, data, **options):
    """Connect, send one message, quit. Returns a RecipientReply per recipient."""
    mail_options = options.pop("mail_options", ())
    with LMTPClient(host, port, **options) as client:
        return client.sendmail(mail_from, rcpt_tos, data, mail_options)


def main(argv=None):
    """Send one message from standard input: `python -m gateway.lmtp_client
    --from a@example.org --to b@example.net [--to ...] < message.eml`."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        description="Send a message to Lockpost over LMTP and show each recipient's reply."
    )
    parser.add_argument("--server", default="127.0.0.1:10024", help="host:port of the LMTP listener")
    parser.add_argument("--from", dest="mail_from", default="", help="envelope sender (empty for a bounce)")
    parser.add_argument("--to", dest="rcpt_tos", action="append", required=True, help="envelope recipient, repeatable")
    parser.add_argument("--smtp", action="store_true", help="speak SMTP instead of LMTP")
    args = parser.parse_args(argv)
    host, _, port = args.server.rpartition(":")
    replies = send(
        host.strip("[]"),
        int(port),
        args.mail_from,
        args.rcpt_tos,
        sys.stdin.buffer.read(),
        protocol="smtp" if args.smtp else "lmtp",
    )
    for reply in replies:
        print(f"{reply.address}: {reply.code} {reply.text}")
    return 0 if all(200 <= r.code < 300 for r in replies) else 1


if __name__ == "__main__":
    raise SystemExit(main())
