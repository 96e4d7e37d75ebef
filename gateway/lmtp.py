"""The LMTP bridge: where the MTA hands mail to Lockpost.

An LMTP listener (RFC 2033, on aiosmtpd) and, optionally, a plain SMTP one for
MTAs that cannot speak LMTP. Each accepted message goes into the spool
(gateway.spool.store) and is acknowledged only once that has committed:

- LMTP answers once per accepted recipient after DATA: "250 2.0.0" with our
  queue id, or "451 4.3.0" for every recipient when storing failed (database
  down, disk full) so that the MTA keeps the message and retries.
- SMTP answers once per transaction, 250 only when stored.
- EHLO/LHLO advertise SIZE (settings.LOCKPOST_MAX_MESSAGE_SIZE), 8BITMIME,
  PIPELINING, ENHANCEDSTATUSCODES and Postfix's XFORWARD. Bigger messages get
  "552 5.3.4", whether announced by SIZE= or found while reading.
- Lines of any length are accepted (see gateway.lmtp_data): refusing one
  would bounce the mail for good.
- The client address, HELO name and the MTA's queue id are taken from
  XFORWARD when the MTA sends it (Postfix: lmtp_send_xforward_command = yes),
  otherwise from the connection and, for the queue id, from the MTA's own
  Received header.
- Database work runs in writer threads, off the event loop, with stale
  connections closed before and after; messages handed over at the same
  moment are stored in one transaction (gateway.lmtp_store).

Use from a management command (the servers run in a thread with their own
event loop, so the caller's thread stays free for signals):

    listener = Listener()           # addresses from settings
    listener.start()                # binds, or raises OSError
    print(listener.lmtp_address)    # (host, port) actually bound
    ...
    listener.stop(grace=30)         # stop accepting, finish messages in flight

`Listener(lmtp="127.0.0.1:0", smtp="")` overrides the addresses ("host:port",
"[::1]:port"; port 0 picks a free one; an empty SMTP address means none).
"""

import asyncio
import concurrent.futures
import logging
import re
import threading
import time

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP
from django.conf import settings

from gateway import lmtp_store, spool
from gateway.lmtp_data import read_body

log = logging.getLogger(__name__)

MAX_RECIPIENTS = 1000
# StreamReader buffer: large enough to read DATA in big pieces. Command lines
# are still held to aiosmtpd's command size limits.
READ_BUFFER = 256 * 1024
XFORWARD_ATTRIBUTES = ("NAME", "ADDR", "PORT", "PROTO", "HELO", "IDENT", "SOURCE")
# <dot-atom@hostname> and what follows it: the paths MTAs send, read without
# the full RFC 5322 parser (SpoolingServer._getaddr).
ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
PLAIN_PATH = re.compile(
    rf"<(?P<local>{ATOM}(?:\.{ATOM})*)@(?P<domain>[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>(?P<rest>.*)\Z", re.S
)
XFORWARD_UNKNOWN = {"[UNAVAILABLE]", "[TEMPUNAVAIL]"}
DOMAIN = re.compile(r"^(\[[^\[\]\s]+\]|[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?)$")
# "... by host (Postfix) with ESMTP id 4Xy1Z2abcDz; ..." in the top Received header.
RECEIVED_ID = re.compile(rb"\bid\s+([A-Za-z0-9]{5,40})\b")


def parse_hostport(text, what="listen address"):
    """ "host:port" or "[v6addr]:port" -> (host, port). An empty host or "*"
    means every interface (host None)."""
    text = (text or "").strip()
    match = re.fullmatch(r"\[([0-9A-Fa-f:.%a-zA-Z]+)\]:(\d+)|([^\s:\[\]]*):(\d+)", text)
    if not match:
        raise ValueError(f'{what} {text!r} is not "host:port" (IPv6 in brackets: "[::1]:10024")')
    host = match.group(1) if match.group(1) is not None else match.group(3)
    port = int(match.group(2) or match.group(4))
    if port > 65535:
        raise ValueError(f"{what} {text!r}: port must be 0 to 65535")
    return (None if host in {"", "*"} else host), port


def xtext_decode(value):
    """RFC 3461 xtext: "+2B" stands for "+"."""
    return re.sub(r"\+([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), value)


def mta_queue_id_from_headers(data):
    """The id the MTA gave the message, from the Received header it added on
    top. Only when that header names Postfix, so a stranger's id is not taken."""
    if not data.startswith(b"Received:"):
        return ""
    end = data.find(b"\n", 0, 4096)
    while 0 <= end < len(data) - 1 and data[end + 1 : end + 2] in (b" ", b"\t"):
        end = data.find(b"\n", end + 1, 4096)
    header = bytes(data[: end if end >= 0 else 4096])
    if b"(Postfix" not in header:
        return ""
    match = RECEIVED_ID.search(header)
    return match.group(1).decode("ascii") if match else ""


def quiet_aiosmtpd():
    # aiosmtpd logs every command line at INFO: a debugging aid, not an
    # operator's log. Unless logging is configured for it, keep warnings only.
    protocol_log = logging.getLogger("mail.log")
    if protocol_log.level == logging.NOTSET:
        protocol_log.setLevel(logging.WARNING)


class SpoolHandler:
    """aiosmtpd hooks: checks the envelope, stores the message, words the replies."""

    def __init__(self, spooler, max_size, profile=""):
        self.spooler = spooler  # a lmtp_store.BatchingStore
        self.max_size = max_size
        self.profile = profile  # the listener profile stored with each message

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        extensions = [f"250-SIZE {self.max_size}", "250-PIPELINING", "250-ENHANCEDSTATUSCODES"]
        extensions.append("250-XFORWARD " + " ".join(XFORWARD_ATTRIBUTES))
        return [*responses[:-1], *extensions, responses[-1]]

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if server.closing:
            server.close_soon()
            return "421 4.3.2 Service shutting down, try again later"
        size = next((opt[5:] for opt in mail_options if opt.startswith("SIZE=")), "")
        if size.isdigit() and int(size) > self.max_size:
            return f"552 5.3.4 Message too big (limit {self.max_size} bytes)"
        if address != "<>" and not self.valid_address(address):
            return "501 5.1.7 Bad sender address syntax"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Ok"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if not self.valid_address(address):
            return "501 5.1.3 Bad recipient address syntax"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 Ok"

    async def handle_RSET(self, server, session, envelope):
        return "250 2.0.0 Ok"

    async def handle_NOOP(self, server, session, envelope, arg):
        return "250 2.0.0 Ok"

    async def handle_QUIT(self, server, session, envelope):
        return "221 2.0.0 Bye"

    async def handle_DATA(self, server, session, envelope):
        if envelope.content is None:
            return self.reply(server, envelope, "552 5.3.4", f"Message too big (limit {self.max_size} bytes)")
        started = time.monotonic()
        try:
            message = await self.spooler.store(
                {**envelope_for_spool(session, envelope), "listener_profile": self.profile}
            )
        except Exception:
            log.exception("could not spool a message from %s; answered 451", client_of(session, envelope))
            return self.reply(server, envelope, "451 4.3.0", "Could not store the message, try again later")
        log.info(
            "queued %s from <%s> for %d recipient(s), %d bytes, mta id %s, in %.0f ms",
            message.queue_id,
            message.mail_from,
            len(envelope.rcpt_tos),
            message.size,
            message.mta_queue_id or "-",
            (time.monotonic() - started) * 1000,
        )
        return self.reply(server, envelope, "250 2.0.0", f"Ok: queued as {message.queue_id}")

    @staticmethod
    def reply(server, envelope, code, text):
        """SMTP: one reply for the transaction. LMTP: one per accepted
        recipient, in RCPT order (RFC 2033 4.2), each naming its recipient."""
        if not server.per_recipient_replies:
            return f"{code} {text}"
        return "\r\n".join(f"{code} <{rcpt}> {text}" for rcpt in envelope.rcpt_tos)

    @staticmethod
    def valid_address(address):
        local, at, domain = address.rpartition("@")
        return bool(local and at and DOMAIN.match(domain)) and len(address) <= spool.ADDRESS_MAX


def client_of(session, envelope):
    xforward = getattr(envelope, "xforward", {})
    if xforward.get("ADDR"):
        return xforward["ADDR"]
    peer = session.peer
    return peer[0] if isinstance(peer, tuple) else str(peer or "")


def envelope_for_spool(session, envelope):
    xforward = getattr(envelope, "xforward", {})
    return {
        "mail_from": envelope.mail_from,
        "rcpt_tos": list(envelope.rcpt_tos),
        "data": envelope.content,
        "client_address": client_of(session, envelope),
        "client_helo": xforward.get("HELO") or session.host_name or "",
        "mta_queue_id": xforward.get("IDENT") or mta_queue_id_from_headers(envelope.content),
    }


class SpoolingServer:
    """What the LMTP and SMTP sides share: a bulk DATA reader with our size
    limit, XFORWARD, and the bookkeeping a graceful shutdown needs."""

    per_recipient_replies = False
    line_length_limit = READ_BUFFER

    def __init__(self, handler, *, connections, max_size, **kwargs):
        super().__init__(handler, data_size_limit=None, decode_data=False, **kwargs)
        # aiosmtpd keeps these limits in a dict shared by every instance; give
        # each connection its own, roomy enough for XFORWARD's long lines.
        self.command_size_limits = _DefaultLimits(MAIL=1024, RCPT=1024, XFORWARD=2048)
        self.max_size = max_size
        self.connections = connections
        self.closing = False
        self.in_data = False

    @property
    def in_transaction(self):
        return self.in_data or bool(self.envelope and self.envelope.mail_from)

    def _getaddr(self, arg):
        """aiosmtpd's parser (the email package's RFC 5322 one) cost more CPU
        than anything else in a session; the plain <local@domain> an MTA
        sends is read here, anything else goes to it."""
        plain = PLAIN_PATH.match(arg)
        rest = plain["rest"].lstrip(" \t") if plain else ""
        if plain is None or rest.startswith("(") or len(plain["local"]) > (self.local_part_limit or len(arg)):
            return super()._getaddr(arg)  # a comment, a quoted local part, a null path: the full parser
        return f"{plain['local']}@{plain['domain']}", rest

    def connection_made(self, transport):
        super().connection_made(transport)
        self.connections.add(self)

    def connection_lost(self, error):
        self.connections.discard(self)
        super().connection_lost(error)

    def close_soon(self):
        """Close after the reply being written (shutdown)."""
        if self.transport is not None:
            self.loop.call_soon(self.transport.close)

    def shut_down_idle(self):
        self.closing = True
        if not self.in_transaction and self.transport is not None:
            self._writer.write(b"421 4.3.2 Service shutting down\r\n")
            self.close_soon()

    async def smtp_XFORWARD(self, arg):
        if self.envelope.mail_from:
            await self.push("503 5.5.1 Error: MAIL transaction in progress")
            return
        attributes = {}
        for item in (arg or "").split():
            name, eq, value = item.partition("=")
            name = name.upper()
            if not eq or name not in XFORWARD_ATTRIBUTES:
                await self.push("501 5.5.4 Bad XFORWARD attribute")
                return
            value = xtext_decode(value)
            if value not in XFORWARD_UNKNOWN:
                attributes[name] = value.removeprefix("IPV6:") if name == "ADDR" else value
        if not attributes and not arg:
            await self.push("501 5.5.4 Syntax: XFORWARD attribute=value...")
            return
        self.envelope.xforward = {**getattr(self.envelope, "xforward", {}), **attributes}
        await self.push("250 2.0.0 Ok")

    async def smtp_DATA(self, arg):
        if await self.check_helo_needed():
            return
        if not self.envelope.rcpt_tos:
            await self.push("503 5.5.1 Error: need RCPT command")
            return
        if arg:
            await self.push("501 5.5.4 Syntax: DATA")
            return
        self.in_data = True
        try:
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            body = await read_body(self._reader, self.max_size, self._reset_timeout)
            # One buffer serves as both; aiosmtpd would keep two names for one object too.
            self.envelope.content = self.envelope.original_content = body.data
            status = await self._call_handler_hook("DATA")
            self._set_post_data_state()
            await self.push(status)
        finally:
            self.in_data = False
        if self.closing:
            await self.push("421 4.3.2 Service shutting down")
            self.close_soon()


class _DefaultLimits(dict):
    def __missing__(self, key):
        return SMTP.command_size_limit


class LMTPServer(SpoolingServer, LMTP):
    per_recipient_replies = True


class SMTPServer(SpoolingServer, SMTP):
    pass


class Listener:
    """Runs the LMTP (and optional SMTP) server in a thread of its own."""

    def __init__(self, lmtp=None, smtp=None, *, max_size=None, hostname=None, profile="", reuse_port=False):
        self.lmtp_spec = parse_hostport(settings.LOCKPOST_LMTP if lmtp is None else lmtp, "LMTP address")
        smtp = settings.LOCKPOST_SMTP_LISTEN if smtp is None else smtp
        self.smtp_spec = parse_hostport(smtp, "SMTP address") if smtp else None
        self.max_size = max_size or settings.LOCKPOST_MAX_MESSAGE_SIZE
        self.hostname = hostname or settings.LOCKPOST_HOSTNAME
        self.profile = profile
        # SO_REUSEPORT: sibling gateway processes bind the same address and
        # the kernel spreads connections over them (gateway/siblings.py).
        self.reuse_port = reuse_port
        self.lmtp_address = None
        self.smtp_address = None
        self._loop = None
        self._thread = None
        self._servers = []
        self._connections = set()
        self._executor = None

    def start(self):
        """Bind and serve; returns once listening. Raises what binding raised."""
        quiet_aiosmtpd()
        self._executor = concurrent.futures.ThreadPoolExecutor(lmtp_store.WRITERS, thread_name_prefix="lmtp-store")
        self._loop = asyncio.new_event_loop()
        started = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, args=(started,), name="lmtp-listener", daemon=True)
        self._thread.start()
        try:
            started.result()
        except BaseException:
            self._thread.join()
            self._executor.shutdown()
            raise
        log.info("LMTP listening on %s:%s", *self.lmtp_address)
        if self.smtp_address:
            log.info("SMTP listening on %s:%s", *self.smtp_address)
        return self

    def stop(self, grace=30.0):
        """Stop accepting, let transactions in flight finish (up to `grace`
        seconds; the rest are cut off and their MTA retries), then stop."""
        if self._thread is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._shut_down(grace), self._loop)
        try:
            future.result(timeout=grace + 10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._executor.shutdown(wait=True)
            self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _run(self, started):
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._bind())
        except BaseException as error:
            started.set_exception(error)
            self._loop.close()
            return
        started.set_result(True)
        try:
            self._loop.run_forever()
        finally:
            pending = [task for task in asyncio.all_tasks(self._loop) if not task.done()]
            for task in pending:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.close()

    async def _bind(self):
        handler = SpoolHandler(lmtp_store.BatchingStore(self._executor), self.max_size, self.profile)
        options = {
            "connections": self._connections,
            "max_size": self.max_size,
            "hostname": self.hostname,
            "ident": "Lockpost",
            "loop": self._loop,
        }
        lmtp = await self._loop.create_server(
            lambda: LMTPServer(handler, **options), *self.lmtp_spec, reuse_address=True, reuse_port=self.reuse_port
        )
        self._servers.append(lmtp)
        self.lmtp_address = lmtp.sockets[0].getsockname()[:2]
        if self.smtp_spec:
            smtp = await self._loop.create_server(
                lambda: SMTPServer(handler, **options), *self.smtp_spec, reuse_address=True, reuse_port=self.reuse_port
            )
            self._servers.append(smtp)
            self.smtp_address = smtp.sockets[0].getsockname()[:2]

    async def _shut_down(self, grace):
        for server in self._servers:
            server.close()
        for connection in list(self._connections):
            connection.shut_down_idle()
        deadline = time.monotonic() + grace
        while any(c.in_transaction for c in self._connections) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        cut_off = [c for c in self._connections if c.in_transaction]
        if cut_off:
            log.warning("shutdown: cutting off %d transaction(s) still in flight", len(cut_off))
        for connection in list(self._connections):
            if connection.transport is not None:
                connection.transport.close()
        for server in self._servers:
            await server.wait_closed()
        await asyncio.sleep(0)  # let connection_lost callbacks run
