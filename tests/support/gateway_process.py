"""A real `manage.py gateway` process for tests and benchmarks: the LMTP
listener and the embedded worker, on the test database, delivering to a
given next hop (an SMTP sink, a Postfix re-injection port).

    def test_something(gateway_process, smtp_sink):
        gw = gateway_process(next_hop=smtp_sink.address)   # started, ready
        send(gw.host, gw.port, ...)                        # gateway.lmtp_client
        gw.kill()        # SIGKILL, like a power cut
        gw.start()       # same port, same database: picks up what was left
        gw.stop()        # SIGTERM: graceful (done for you after the test)

Options: `lmtp_port` (default: a free one, kept across restarts), `env`
(extra environment, e.g. LOCKPOST_PIPELINE), `args` (e.g. ["--no-worker"]),
`start=False` to get it unstarted. The sweeper runs every 0.5 s, leases last
2 s (deliveries 5 s) and lost rings count as lost after 1 s, so a killed gateway's work is
taken up again within a few seconds of a restart.

The fixture needs the test database committed where the subprocess can see
it, so it requests `transactional_db`. The process's output is in `gw.log`
(a file) and `gw.output()`.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

REPO = Path(__file__).resolve().parents[2]
READY = "gateway ready:"

# Fast clocks so that crash tests finish in seconds, not minutes.
FAST = {
    "LOCKPOST_SWEEP_INTERVAL": "0.5",
    "LOCKPOST_PROCESS_LEASE": "2",
    "LOCKPOST_RING_GRACE": "1",
    "LOCKPOST_RETRY_FIRST": "1",
    "LOCKPOST_RETRY_MAX": "2",
    # Longer than any send in tests: deliveries are not renewed while sending.
    "LOCKPOST_DELIVERY_LEASE": "5",
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url(settings_dict=None):
    """A DATABASE_URL naming the database this test process uses (the test
    database, once pytest-django has set it up)."""
    db = settings_dict or connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    if db["ENGINE"] == "django.db.backends.postgresql":
        from urllib.parse import quote

        auth = quote(db["USER"] or "", safe="")
        if db.get("PASSWORD"):
            auth += ":" + quote(db["PASSWORD"], safe="")
        host = db.get("HOST") or "localhost"
        port = f":{db['PORT']}" if db.get("PORT") else ""
        return f"postgres://{auth}@{host}{port}/{db['NAME']}"
    raise NotImplementedError(f"no DATABASE_URL for {db['ENGINE']}")


class GatewayProcess:
    host = "127.0.0.1"

    def __init__(self, *, next_hop, workdir, lmtp_port=None, env=None, args=()):
        self.port = lmtp_port or free_port()
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log = self.workdir / "gateway.log"
        self.args = list(args)
        self.env = {
            **os.environ,
            **FAST,
            "DATABASE_URL": database_url(),
            "LOCKPOST_NEXT_HOP": next_hop or "",
            "LOCKPOST_OUTBOX_DIR": str(self.workdir / "outbox"),
            "LOCKPOST_VAR_DIR": str(self.workdir),
            "CELERY_BROKER_URL": "",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.proc = None
        self.starts = 0

    @property
    def address(self):
        return f"{self.host}:{self.port}"

    def start(self, timeout=30):
        """Start and wait until it says it is ready (listening, worker up)."""
        if self.running:
            raise RuntimeError("the gateway is already running")
        self.starts += 1
        with self.log.open("a") as log:
            log.write(f"\n--- start {self.starts} ---\n")
        mark = self.log.stat().st_size
        command = [sys.executable, str(REPO / "manage.py"), "gateway", "--lmtp", self.address, *self.args]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(command, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if READY in self.output(since=mark):
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"the gateway exited with {self.proc.returncode}:\n{self.output(since=mark)}")
            time.sleep(0.05)
        self.kill()
        raise TimeoutError(f"the gateway was not ready in {timeout}s:\n{self.output(since=mark)}")

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=30):
        """SIGTERM and wait: the graceful way. Returns the exit code."""
        if not self.running:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self):
        """SIGKILL: no goodbye, no cleanup, like a crash or a power cut."""
        if self.running:
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait()

    def restart(self, timeout=30):
        """Kill -9 and start again on the same port and database."""
        self.kill()
        return self.start(timeout)

    def output(self, since=0):
        data = self.log.read_bytes() if self.log.exists() else b""
        return data[since:].decode("utf-8", "replace")


@pytest.fixture
def gateway_process(transactional_db, tmp_path):
    """Factory: gateway_process(next_hop="host:port", lmtp_port=None, env=None,
    args=(), start=True) -> GatewayProcess. Stopped after the test (before
    the test database is flushed)."""
    made = []

    def make(next_hop=None, *, lmtp_port=None, env=None, args=(), start=True):
        workdir = tmp_path / f"gateway-{len(made) + 1}"
        gateway = GatewayProcess(next_hop=next_hop, workdir=workdir, lmtp_port=lmtp_port, env=env, args=args)
        made.append(gateway)
        return gateway.start() if start else gateway

    yield make
    for gateway in made:
        # A gateway that does not stop in time is killed by stop(); the test has its verdict.
        with contextlib.suppress(subprocess.TimeoutExpired):
            gateway.stop(timeout=15)
