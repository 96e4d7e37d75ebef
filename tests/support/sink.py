"""An SMTP sink for tests and benchmarks: a real SMTP server (aiosmtpd) on a
free 127.0.0.1 port that keeps every message it accepts.

    with SmtpSink() as sink:                   # or sink.start() ... sink.stop()
        send_to(sink.host, sink.port)
        [mail] = sink.wait_for(1, timeout=10)  # raises TimeoutError if short
        mail.mail_from, mail.rcpt_tos, mail.data, mail.tls, mail.auth_user

`data` is the message exactly as received (CRLF line endings, dot-stuffing
undone); a null sender (MAIL FROM:<>) is recorded as "". Scripting, all optional and changeable while it runs:

    SmtpSink(
        rcpt_replies={"bad@x.test": "550 5.1.1 no such user"},  # per recipient
        data_replies=["451 4.3.0 try later"],  # used up one per DATA, then 250
        mail_replies=["421 4.3.2 busy"],       # likewise for MAIL FROM
        starttls=True,          # offer STARTTLS with a self-signed certificate
        require_tls=False,      # refuse MAIL before STARTTLS
        auth=("user", "pw"),    # offer AUTH PLAIN/LOGIN, accept only this pair
        delay=0.5,              # seconds to wait before answering DATA
        smtputf8=True,          # offer SMTPUTF8 (non-ASCII addresses)
        max_size=None,          # SIZE limit in bytes; None: unlimited
    )

A refused DATA keeps nothing. `sink.connections` counts the connections
accepted since start, `sink.open_connections` those open now, and
`sink.drop_connections()` closes these from the server's side, as an MTA does
with an idle client. In pytest use the
`smtp_sink` fixture (a default sink) or `make_smtp_sink(**options)`; both stop
the sink afterwards.
"""

import asyncio
import datetime
import socket
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ACCEPTED = "250 2.0.0 OK: queued"


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list
    data: bytes
    tls: bool
    auth_user: str | None = None
    helo: str | None = None
    at: float = field(default_factory=time.time)


class _SinkSMTP(SMTP):
    # aiosmtpd refuses lines over 1001 bytes with a permanent 500; a sink that
    # bounces what real MTAs pass would make tests lie, so accept long lines.
    line_length_limit = 1024 * 1024

    def connection_lost(self, error):
        super().connection_lost(error)
        self.event_handler.sink._servers.discard(self)


class _Handler:
    def __init__(self, sink):
        self.sink = sink

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.sink.mail_replies:
            reply = self.sink.mail_replies.pop(0)
            if not reply.startswith("2"):
                return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.sink.rcpt_replies.get(address.lower()) or self.sink.rcpt_replies.get(address)
        if reply and not reply.startswith("2"):
            return reply
        envelope.rcpt_tos.append(address)
        return reply or "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.sink.delay:
            await asyncio.sleep(self.sink.delay)
        if self.sink.data_replies:
            reply = self.sink.data_replies.pop(0)
            if not reply.startswith("2"):
                return reply
        auth = session.auth_data
        mail = ReceivedMail(
            mail_from="" if envelope.mail_from == "<>" else envelope.mail_from,
            rcpt_tos=list(envelope.rcpt_tos),
            data=bytes(envelope.original_content),
            tls=session.ssl is not None,
            auth_user=auth.login.decode() if isinstance(auth, LoginPassword) else None,
            helo=session.host_name,
        )
        self.sink._record(mail)
        return ACCEPTED


class _Controller(Controller):
    """Binds its socket before starting so that port 0 (any free port) works."""

    def __init__(self, handler, sock, **kwargs):
        self._sock = sock
        super().__init__(handler, hostname="127.0.0.1", port=sock.getsockname()[1], **kwargs)

    def factory(self):
        # Called once per accepted connection.
        server = _SinkSMTP(self.handler, **self.SMTP_kwargs)
        self.handler.sink._connected(server)
        return server

    def _create_server(self):
        return self.loop.create_server(self._factory_invoker, sock=self._sock)


def self_signed_context(directory, hostname="localhost"):
    """A server SSLContext with a fresh self-signed certificate written into
    `directory` (cert.pem, key.pem)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = Path(directory) / "cert.pem", Path(directory) / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context


class SmtpSink:
    """A running SMTP server that keeps what it accepts. See the module docstring."""

    host = "127.0.0.1"

    def __init__(
        self,
        *,
        rcpt_replies=None,
        data_replies=None,
        mail_replies=None,
        starttls=False,
        require_tls=False,
        auth=None,
        delay=0.0,
        smtputf8=True,
        max_size=None,
    ):
        self.rcpt_replies = {k.lower(): v for k, v in (rcpt_replies or {}).items()}
        self.data_replies = list(data_replies or [])
        self.mail_replies = list(mail_replies or [])
        self.starttls = starttls
        self.require_tls = require_tls
        self.auth = auth
        self.delay = delay
        self.smtputf8 = smtputf8
        self.max_size = max_size
        self.received = []
        self.auth_failures = 0
        self.connections = 0
        self._servers = set()  # the open connections, to drop them (event loop thread only)
        self.port = None
        self.cert_path = None
        self._cond = threading.Condition()
        self._controller = None
        self._tmp = None

    def start(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # aiosmtpd writes a multi-line reply line by line; without NODELAY
        # (inherited by accepted sockets) each line waits for a delayed ACK.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((self.host, 0))
        self.port = sock.getsockname()[1]
        options = {"data_size_limit": self.max_size, "auth_require_tls": False, "server_hostname": "sink.test"}
        options["enable_SMTPUTF8"] = self.smtputf8
        if self.starttls or self.require_tls:
            self._tmp = tempfile.TemporaryDirectory(prefix="smtp-sink-")
            options["tls_context"] = self_signed_context(self._tmp.name)
            options["require_starttls"] = self.require_tls
            self.cert_path = Path(self._tmp.name) / "cert.pem"
        if self.auth:
            options["authenticator"] = self._authenticate
            options["auth_exclude_mechanism"] = ["CRAM-MD5"]
        self._controller = _Controller(_Handler(self), sock, **options)
        self._controller.start()
        with self._cond:
            # Not the controller's own check that the server answers.
            self.connections = 0
            self._servers.clear()
        return self

    def stop(self):
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def address(self):
        """host:port, the form LOCKPOST_NEXT_HOP takes."""
        return f"{self.host}:{self.port}"

    def wait_for(self, count=1, timeout=10.0):
        """Blocks until at least `count` messages arrived; returns them all."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.received) >= count, timeout):
                raise TimeoutError(f"sink got {len(self.received)} of {count} messages in {timeout}s")
            return list(self.received)

    @property
    def open_connections(self):
        """How many connections are open now."""
        return len(self._servers)

    def drop_connections(self, timeout=5.0):
        """Closes every open connection from the server's side; returns when done."""
        dropped = threading.Event()

        def drop():
            for server in list(self._servers):
                if server.transport is not None:
                    server.transport.close()
            dropped.set()

        self._controller.loop.call_soon_threadsafe(drop)
        if not dropped.wait(timeout):
            raise TimeoutError("the sink did not drop its connections")

    def _connected(self, server):
        with self._cond:
            self.connections += 1
            self._servers.add(server)

    def _record(self, mail):
        with self._cond:
            self.received.append(mail)
            self._cond.notify_all()

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            self.auth[0].encode(),
            self.auth[1].encode(),
        ):
            return AuthResult(success=True, auth_data=auth_data)
        self.auth_failures += 1
        return AuthResult(success=False, handled=False)


@pytest.fixture
def make_smtp_sink():
    """Starts sinks with options (see SmtpSink); stops them after the test."""
    sinks = []

    def make(**options):
        sink = SmtpSink(**options).start()
        sinks.append(sink)
        return sink

    yield make
    for sink in sinks:
        sink.stop()


@pytest.fixture
def smtp_sink(make_smtp_sink):
    """A running SMTP sink that accepts everything."""
    return make_smtp_sink()
