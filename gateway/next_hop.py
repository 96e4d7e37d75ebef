"""One SMTP transaction with the next hop: STARTTLS, AUTH, MAIL, RCPT per
recipient, DATA streamed. Returns each recipient's reply; knows nothing of
the database."""

import re
import smtplib
import socket
import ssl
from dataclasses import dataclass

CHUNK = 64 * 1024
BARE_LF = re.compile(rb"(?<!\r)\n")


@dataclass(frozen=True)
class Reply:
    code: int
    text: str

    @property
    def accepted(self):
        return 200 <= self.code < 300

    @property
    def permanent(self):
        return 500 <= self.code < 600

    def __str__(self):
        return f"{self.code} {self.text}"


# RFC 6531: an address that needs SMTPUTF8 cannot go to a server without it.
NO_SMTPUTF8 = Reply(553, "5.6.7 the next hop does not accept non-ASCII addresses (no SMTPUTF8)")


class NextHopUnavailable(Exception):
    """No SMTP transaction took place (connection, TLS or authentication
    failed): every recipient is to be tried again later."""


@dataclass
class Result:
    replies: dict  # address -> Reply
    tls: bool


def parse_address(next_hop):
    """'host:port' (or '[v6]:port') -> (host, port); port defaults to 25."""
    host, sep, port = next_hop.rpartition(":")
    if not sep or not port.isdigit():
        host, port = next_hop, "25"
    return host.strip("[]"), int(port)


def _tls_context():
    # Like an MTA's opportunistic TLS: encrypt, but accept any certificate;
    # the next hop is normally our own MTA on a trusted network.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _reply(code, text):
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return Reply(code, " ".join(text.split()))


def send(
    next_hop, mail_from, recipients, content, *, helo, starttls="opportunistic", user="", password="", timeout=120
):
    """Sends `content` once to all `recipients`. Raises NextHopUnavailable
    when nothing could be sent."""
    host, port = parse_address(next_hop)
    try:
        client = smtplib.SMTP(host, port, local_hostname=helo, timeout=timeout)
    except (OSError, smtplib.SMTPException) as error:
        raise NextHopUnavailable(f"cannot connect to {next_hop}: {_describe(error)}") from None
    try:
        # Commands and data go out in several small writes; without NODELAY
        # each would wait for the peer's delayed ACK (about 40 ms).
        client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        tls = _negotiate(client, next_hop, starttls, user, password)
        return Result(_transaction(client, mail_from, recipients, content), tls)
    except (OSError, smtplib.SMTPException) as error:
        raise NextHopUnavailable(f"conversation with {next_hop} failed: {_describe(error)}") from None
    finally:
        _close(client)


def _negotiate(client, next_hop, starttls, user, password):
    client.ehlo_or_helo_if_needed()
    tls = False
    if starttls != "off" and client.has_extn("starttls"):
        client.starttls(context=_tls_context())
        client.ehlo()
        tls = True
    elif starttls == "required":
        raise NextHopUnavailable(f"{next_hop} does not offer STARTTLS, which is required")
    if user:
        try:
            client.login(user, password)
        except smtplib.SMTPAuthenticationError as error:
            # The reply only: never the credentials.
            raise NextHopUnavailable(f"authentication at {next_hop} failed: {error.smtp_code}") from None
        except smtplib.SMTPNotSupportedError:
            raise NextHopUnavailable(f"{next_hop} does not offer AUTH") from None
    return tls


def _transaction(client, mail_from, recipients, content):
    options = [f"SIZE={len(content)}"] if client.has_extn("size") else []
    if client.has_extn("8bitmime") and not content.isascii():
        options.append("BODY=8BITMIME")
    utf8 = client.has_extn("smtputf8")
    if utf8 and not (mail_from.isascii() and all(r.isascii() for r in recipients)):
        options.append("SMTPUTF8")
    if not (utf8 or mail_from.isascii()):
        return {address: NO_SMTPUTF8 for address in recipients}
    code, text = client.mail(mail_from, options)
    if code != 250:
        client.rset()
        return {address: _reply(code, text) for address in recipients}
    replies = {}
    for address in recipients:
        if not (utf8 or address.isascii()):
            replies[address] = NO_SMTPUTF8
            continue
        code, text = client.rcpt(address)
        replies[address] = _reply(code, text)
    accepted = [address for address, reply in replies.items() if reply.accepted]
    if not accepted:
        client.rset()
        return replies
    data_reply = _data(client, content)
    for address in accepted:
        replies[address] = data_reply
    return replies


def _data(client, content):
    """DATA with the body streamed in chunks, so that a large message is not
    copied whole (smtplib.data would copy it at least twice)."""
    client.putcmd("data")
    code, text = client.getreply()
    if code != 354:
        return _reply(code, text)
    for chunk in wire_chunks(content):
        client.send(chunk)
    code, text = client.getreply()
    return _reply(code, text)


def wire_chunks(content):
    """The message as SMTP DATA wants it: CRLF line endings, leading dots
    doubled, ending with CRLF.CRLF."""
    clean = not content.startswith(b".") and b"\n." not in content
    if clean and content.count(b"\n") == content.count(b"\r\n"):
        view = memoryview(content)
        for start in range(0, len(view), CHUNK):
            yield view[start : start + CHUNK]
    else:
        yield from _stuffed_chunks(content)
    yield b".\r\n" if content.endswith(b"\n") or not content else b"\r\n.\r\n"


def _stuffed_chunks(content):
    buffer = bytearray()
    start = 0
    while start < len(content):
        end = content.find(b"\n", start)
        end = len(content) if end < 0 else end + 1
        line = content[start:end]
        if line.startswith(b"."):
            buffer += b"."
        if line.endswith(b"\n") and not line.endswith(b"\r\n"):
            line = line[:-1] + b"\r\n"
        buffer += line
        if len(buffer) >= CHUNK:
            yield bytes(buffer)
            buffer.clear()
        start = end
    if buffer:
        yield bytes(buffer)


def _describe(error):
    if isinstance(error, smtplib.SMTPResponseException):
        return str(_reply(error.smtp_code, error.smtp_error))
    if isinstance(error, socket.timeout):
        return "timed out"
    return str(error) or type(error).__name__


def _close(client):
    try:
        client.quit()
    except (OSError, smtplib.SMTPException):
        client.close()
