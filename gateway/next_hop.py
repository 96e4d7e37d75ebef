"""One SMTP transaction with the next hop: STARTTLS, AUTH, MAIL, RCPT per
recipient, DATA streamed. Returns each recipient's reply; knows nothing of
the database. Connections are kept open per thread between transactions
(see the end of this module)."""

import os
import re
import smtplib
import socket
import ssl
import threading
import time
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
    """Sends `content` once to all `recipients`, on the connection this thread
    kept open to the same next hop if there is one. Raises NextHopUnavailable
    when nothing could be sent."""
    key = (next_hop, helo, starttls, user, password, timeout)
    kept = _take_kept(key)
    if kept is not None:
        try:
            return _send_on(kept, mail_from, recipients, content, kept=True)
        except _Stale:
            # Closed by the next hop while idle, most likely: nothing of
            # this message was accepted, so a new connection may try it.
            kept.close()
    connection = _connect(key)
    return _send_on(connection, mail_from, recipients, content, kept=False)


def _connect(key):
    next_hop, helo, starttls, user, password, timeout = key
    host, port = parse_address(next_hop)
    try:
        client = smtplib.SMTP(host, port, local_hostname=helo, timeout=timeout)
    except (OSError, smtplib.SMTPException) as error:
        raise NextHopUnavailable(f"cannot connect to {next_hop}: {_describe(error)}") from None
    connection = _Connection(key, client)
    try:
        # Commands and data go out in several small writes; without NODELAY
        # each would wait for the peer's delayed ACK (about 40 ms).
        client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection.tls = _negotiate(client, next_hop, starttls, user, password)
    except (OSError, smtplib.SMTPException) as error:
        connection.close()
        raise NextHopUnavailable(f"conversation with {next_hop} failed: {_describe(error)}") from None
    except NextHopUnavailable:
        connection.close()
        raise
    return connection


def _send_on(connection, mail_from, recipients, content, *, kept):
    """One transaction on an open connection, which is kept for the next one
    unless something went wrong. Raises _Stale when a kept connection failed
    before DATA was under way (nothing can have been accepted)."""
    connection.in_data = False
    try:
        if kept:
            _reset(connection)
        replies = _transaction(connection, mail_from, recipients, content, kept=kept)
    except (OSError, smtplib.SMTPException) as error:
        if kept and not connection.in_data:
            raise _Stale from None
        connection.close()
        raise NextHopUnavailable(f"conversation with {connection.key[0]} failed: {_describe(error)}") from None
    except BaseException:
        connection.close()
        raise
    _keep(connection)
    return Result(replies, connection.tls)


def _reset(connection):
    """RSET before reusing a connection: a clean slate, and proof it is alive."""
    code, _ = connection.client.rset()
    if code != 250:
        raise _Stale


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


def _transaction(connection, mail_from, recipients, content, *, kept=False):
    client = connection.client
    options = [f"SIZE={len(content)}"] if client.has_extn("size") else []
    if client.has_extn("8bitmime") and not content.isascii():
        options.append("BODY=8BITMIME")
    utf8 = client.has_extn("smtputf8")
    if utf8 and not (mail_from.isascii() and all(r.isascii() for r in recipients)):
        options.append("SMTPUTF8")
    if not (utf8 or mail_from.isascii()):
        return {address: NO_SMTPUTF8 for address in recipients}
    code, text = _said(connection, kept, client.mail(mail_from, options))
    if code != 250:
        client.rset()
        return {address: _reply(code, text) for address in recipients}
    replies = {}
    for address in recipients:
        if not (utf8 or address.isascii()):
            replies[address] = NO_SMTPUTF8
            continue
        code, text = _said(connection, kept, client.rcpt(address))
        replies[address] = _reply(code, text)
    accepted = [address for address, reply in replies.items() if reply.accepted]
    if not accepted:
        client.rset()
        return replies
    data_reply = _data(connection, content, kept)
    for address in accepted:
        replies[address] = data_reply
    return replies


def _said(connection, kept, reply):
    """Looks at a reply before DATA: 421 means the next hop is closing the
    connection; on a kept one that is a reason to try a new one."""
    if reply[0] == 421:
        if kept:
            raise _Stale
        connection.closing = True
    return reply


def _data(connection, content, kept):
    """DATA with the body streamed in chunks, so that a large message is not
    copied whole (smtplib.data would copy it at least twice)."""
    client = connection.client
    client.putcmd("data")
    code, text = _said(connection, kept, client.getreply())
    if code != 354:
        return _reply(code, text)
    # From here the message may be accepted: no second try at once.
    connection.in_data = True
    for chunk in wire_chunks(content):
        client.send(chunk)
    code, text = client.getreply()
    connection.closing |= code == 421
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


# --- connections kept open between deliveries ------------------------------
#
# Each thread keeps the connection of its last transaction open and uses it
# for its next one to the same next hop (with the same settings), after an
# RSET. A kept connection that fails before DATA is under way (dropped while
# idle, or a 421) is closed and the transaction tried once on a new
# connection; every other failure counts exactly as on a new connection.

# Longer idle than this and a kept connection is closed: an idle gateway
# holds no connections open, and next hops drop idle clients anyway.
IDLE_SECONDS = 5.0
REAP_EVERY = 1.0
QUIT_TIMEOUT = 5.0

_local = threading.local()  # .connection: this thread's kept _Connection
_open = set()  # every kept connection, for the reaper
_open_lock = threading.Lock()
_reaper = None


class _Stale(Exception):
    """A kept connection failed before any of the message went out."""


class _Connection:
    """An open SMTP connection and the settings (`key`) it was opened with.
    Its user holds `lock`; the reaper closes it only when it can take it."""

    def __init__(self, key, client):
        self.key, self.client = key, client
        self.tls = False
        self.in_data = False  # DATA got its 354: the message may be accepted
        self.closing = False  # the next hop said 421
        self.closed = False
        self.last_used = time.monotonic()
        self.lock = threading.Lock()
        self.lock.acquire()  # in use from the start

    def close(self):
        if not self.closed:
            self.closed = True
            if self.client.sock is not None:
                # QUIT is answered at once or not at all: do not wait long.
                self.client.sock.settimeout(QUIT_TIMEOUT)
            _close(self.client)
        with _open_lock:
            _open.discard(self)


def _take_kept(key):
    """This thread's kept connection, if it fits `key` and has not idled too
    long (then it is closed); None otherwise."""
    connection = getattr(_local, "connection", None)
    _local.connection = None
    if connection is None:
        return None
    connection.lock.acquire()
    if connection.closed:  # by the reaper
        return None
    if connection.key != key or time.monotonic() - connection.last_used > IDLE_SECONDS:
        connection.close()
        return None
    return connection


def _keep(connection):
    """Keeps the connection for this thread's next transaction."""
    if connection.closing:
        connection.close()
        return
    connection.last_used = time.monotonic()
    _local.connection = connection
    with _open_lock:
        _open.add(connection)
        _start_reaper()
    connection.lock.release()


def close_kept():
    """Closes this thread's kept connection (a worker thread that stops)."""
    connection = getattr(_local, "connection", None)
    _local.connection = None
    if connection is not None:
        with connection.lock:
            connection.close()


def _start_reaper():
    global _reaper
    if _reaper is None:
        _reaper = threading.Thread(target=_reap, name="next-hop-reaper", daemon=True)
        _reaper.start()


def _reap():
    """Closes connections idle too long; ends when none is left open."""
    global _reaper
    while True:
        time.sleep(REAP_EVERY)
        with _open_lock:
            connections = list(_open)
            if not connections:
                _reaper = None
                return
        for connection in connections:
            if connection.lock.acquire(blocking=False):
                try:
                    if time.monotonic() - connection.last_used > IDLE_SECONDS:
                        connection.close()
                finally:
                    connection.lock.release()


def _forget_after_fork():
    # A child must never talk on its parent's connections: drop them unclosed
    # (closing here would QUIT the parent's session).
    global _local, _open, _open_lock, _reaper
    _local, _open, _open_lock, _reaper = threading.local(), set(), threading.Lock(), None


os.register_at_fork(after_in_child=_forget_after_fork)
