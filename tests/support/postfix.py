"""A private Postfix instance on loopback ports, wired in front of Lockpost
exactly as the README's "Behind Postfix" section says.

    submission smtpd (free port) -> queue -> content_filter = lmtp:inet:LMTP
    Lockpost -> re-injection smtpd (free port, no filter) -> relayhost = the sink

The README's main.cf and master.cf blocks are read from README.md and only
their ports are changed, so the documented configuration is the tested one.

Fixture: `postfix_instance(relay_port=..., lmtp_port=...)` makes an instance
whose ports are known before it starts (the gateway needs the re-injection
port as its next hop); `.start()` runs it; it is stopped and removed after the
test whatever happens.
"""

import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
DEFAULT_CONFIG_DIR = Path("/etc/postfix")
POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"
POSTCONF = shutil.which("postconf") or "/usr/sbin/postconf"
POSTQUEUE = shutil.which("postqueue") or "/usr/sbin/postqueue"

# The addresses the README documents; tests swap in free ports.
DOCUMENTED_LMTP = "127.0.0.1:10024"
DOCUMENTED_REINJECT = "127.0.0.1:10026"

# Marks a README fenced block as tested: <!-- tested: postfix main.cf -->
SNIPPET_MARK = re.compile(r"<!--\s*tested:\s*postfix (main\.cf|master\.cf)\b[^>]*-->\s*\n```[^\n]*\n(.*?)\n```", re.S)


def readme_snippets(text=None):
    """{'main.cf': ..., 'master.cf': ...}: the README's tested blocks."""
    text = README.read_text(encoding="utf-8") if text is None else text
    found = {name: body + "\n" for name, body in SNIPPET_MARK.findall(text)}
    missing = {"main.cf", "master.cf"} - found.keys()
    if missing:
        raise AssertionError(f"README.md lacks the tested Postfix block(s): {sorted(missing)}")
    return found


def with_ports(snippet, lmtp_port, reinject_port, expect):
    """The snippet with the documented ports replaced; fails loudly if the
    README stops naming the address `expect`, so that a changed README
    cannot quietly go untested."""
    if expect not in snippet:
        raise AssertionError(f"README Postfix block no longer names {expect}:\n{snippet}")
    return snippet.replace(DOCUMENTED_LMTP, f"127.0.0.1:{lmtp_port}").replace(
        DOCUMENTED_REINJECT, f"127.0.0.1:{reinject_port}"
    )


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unavailable_reason():
    if not os.path.exists(POSTFIX) or not os.path.exists(POSTCONF):
        return "Postfix is not installed (scripts/install-debian-packages installs it)"
    if os.geteuid() != 0:
        return "a private Postfix instance must be started as root"
    return None


def skip_or_fail(reason):
    if os.environ.get("LOCKPOST_REQUIRE_SERVICES") == "1":
        pytest.fail(f"Postfix required but unavailable: {reason}")
    pytest.skip(reason)


@contextlib.contextmanager
def _default_config_lock():
    # Parallel test workers each add their directory to the default main.cf.
    with open(os.path.join(tempfile.gettempdir(), "lockpost-postfix-main-cf.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _update_alternate_directories(add=None, remove=None):
    """Postfix runs `postfix -c DIR` only for a DIR named in the default
    main.cf's alternate_config_directories. Debian installed Postfix with
    "No configuration", so the file may not exist yet. Entries whose folder
    is gone (runs that crashed) are pruned on the way."""
    with _default_config_lock():
        main_cf = DEFAULT_CONFIG_DIR / "main.cf"
        if not main_cf.exists():
            DEFAULT_CONFIG_DIR.mkdir(parents=True, exist_ok=True)
            main_cf.write_text("# Created by Lockpost's tests: only names their private instances.\n")
        current = subprocess.run(
            [POSTCONF, "-c", str(DEFAULT_CONFIG_DIR), "-h", "alternate_config_directories"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        dirs = [d for d in current if d != remove and os.path.isdir(d)]
        if add and add not in dirs:
            dirs.append(add)
        if dirs != current:
            subprocess.run(
                [POSTCONF, "-c", str(DEFAULT_CONFIG_DIR), "-e", "alternate_config_directories = " + " ".join(dirs)],
                check=True,
                capture_output=True,
            )


@contextlib.contextmanager
def registered_config_directory(path):
    """Lets `postfix -c PATH` run for the duration of the block."""
    _update_alternate_directories(add=str(path))
    try:
        yield
    finally:
        _update_alternate_directories(remove=str(path))


def base_main_cf(root, relay_port):
    """Everything but the README's lines: a loopback-only relay whose only
    way out is the test sink."""
    return f"""\
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.lockpost.test
mydomain = lockpost.test
myorigin = $myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
local_recipient_maps =
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:{relay_port}
smtp_dns_support_level = disabled
lmtp_dns_support_level = disabled
smtp_connect_timeout = 5s
lmtp_connect_timeout = 5s
smtpd_error_sleep_time = 0
in_flow_delay = 0
delay_warning_time = 0
biff = no
append_dot_mydomain = no
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
"""


def _submission_service(master_cf, port):
    # The package's port-25 listener becomes a free loopback port.
    line = re.compile(r"^smtp\s+inet\s.*$", re.M)
    if not line.search(master_cf):
        raise AssertionError("master.cf has no 'smtp inet' service to move")
    return line.sub(f"127.0.0.1:{port} inet n - n - - smtpd", master_cf, count=1)


class PostfixInstance:
    """One private Postfix: its folder, its ports, and ways to look inside."""

    def __init__(self, root, relay_port, lmtp_port=None):
        self.root = Path(root)
        self.config_dir = self.root / "etc"
        self.queue_dir = self.root / "queue"
        self.maillog = self.root / "maillog"
        self.relay_port = relay_port
        self.lmtp_port = lmtp_port or free_port()
        self.submit_port = free_port()
        self.reinject_port = free_port()
        self.running = False

    # --- life ------------------------------------------------------------

    def write_config(self):
        snippets = readme_snippets()
        self.config_dir.mkdir(parents=True)
        # Postfix creates what lies inside these on `postfix check`, not the folders.
        self.queue_dir.mkdir()
        (self.root / "data").mkdir()
        shutil.chown(self.root / "data", "postfix", "postfix")
        main_cf = base_main_cf(self.root, self.relay_port)
        main_cf += "\n# From README.md, Behind Postfix\n"
        main_cf += with_ports(snippets["main.cf"], self.lmtp_port, self.reinject_port, DOCUMENTED_LMTP)
        (self.config_dir / "main.cf").write_text(main_cf)
        master_cf = _submission_service((DEFAULT_CONFIG_DIR / "master.cf").read_text(), self.submit_port)
        master_cf += "\n# From README.md, Behind Postfix\n"
        master_cf += with_ports(snippets["master.cf"], self.lmtp_port, self.reinject_port, DOCUMENTED_REINJECT)
        (self.config_dir / "master.cf").write_text(master_cf)
        # No chroot: a chroot would need copies of /etc files inside the queue.
        self.postconf("-F", "*/*/chroot = n")

    def start(self, lmtp_port=None):
        if lmtp_port is not None:
            self.lmtp_port = lmtp_port
        self.write_config()
        _update_alternate_directories(add=str(self.config_dir))
        self.check()
        # Postfix's own way to skip the second, identical (and slow) check
        # that `postfix start` would run.
        (self.queue_dir / "quick-start").touch()
        self._run(POSTFIX, "-c", str(self.config_dir), "start")
        self.running = True
        self._wait_listening(self.submit_port)
        self._wait_listening(self.reinject_port)
        return self

    def stop(self):
        if self.running:
            self.running = False
            # What `postfix stop` does (SIGTERM to the master, which stops
            # its children), without its one-second polling.
            pid = self._master_pid()
            if pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            self._wait_master_gone()
        _update_alternate_directories(remove=str(self.config_dir))

    def check(self):
        """`postfix check` must pass; it says nothing when the log file is
        outside maillog_file_prefixes, so the exit status is what counts."""
        return self._run(POSTFIX, "-c", str(self.config_dir), "check")

    # --- use ---------------------------------------------------------------

    def send(self, data, mail_from, rcpt_tos, mail_options=("BODY=8BITMIME",)):
        """Submit a message over SMTP to the submission listener; returns
        smtplib's refused-recipients dict (empty when all were accepted)."""
        with smtplib.SMTP("127.0.0.1", self.submit_port, timeout=30) as client:
            client.ehlo("client.lockpost.test")
            return client.sendmail(mail_from, rcpt_tos, data, mail_options=list(mail_options))

    def queue(self):
        """Messages still in Postfix's queue, as postqueue -j lists them."""
        out = self._run(POSTQUEUE, "-c", str(self.config_dir), "-j").stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def flush(self):
        """Ask Postfix to retry every deferred message now."""
        self._run(POSTQUEUE, "-c", str(self.config_dir), "-f")

    def log(self):
        return self.maillog.read_text(errors="replace") if self.maillog.exists() else ""

    def wait_for_log(self, pattern, timeout=30):
        """Wait for a maillog line matching a regular expression; returns the match."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.log())
            if match:
                return match
            time.sleep(0.1)
        raise AssertionError(f"no Postfix log line matching {pattern!r} in {timeout}s:\n{self.log()}")

    def wait_queue_empty(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.queue():
                return
            time.sleep(0.2)
        raise AssertionError(f"Postfix queue not empty after {timeout}s: {self.queue()}\n{self.log()}")

    def postconf(self, *args):
        return self._run(POSTCONF, "-c", str(self.config_dir), *args).stdout

    # --- inside ------------------------------------------------------------

    def _run(self, *argv):
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise AssertionError(
                f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout}{result.stderr}\n{self.log()}"
            )
        return result

    def _wait_listening(self, port, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                return
            time.sleep(0.05)
        raise AssertionError(f"Postfix did not listen on 127.0.0.1:{port}:\n{self.log()}")

    def _master_pid(self):
        with contextlib.suppress(OSError, ValueError):
            return int((self.queue_dir / "pid" / "master.pid").read_text().strip())
        return None

    def _wait_master_gone(self, timeout=20):
        pid = self._master_pid()
        deadline = time.monotonic() + timeout
        while pid and time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        if pid:
            # Last resort for a master that will not stop: only our own pid.
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def postfix_instance():
    """Factory: postfix_instance(relay_port=SINK_PORT, lmtp_port=None) -> an
    unstarted PostfixInstance; call .start(). Stopped and removed afterwards."""
    reason = unavailable_reason()
    if reason:
        skip_or_fail(reason)
    made = []

    def make(relay_port, lmtp_port=None):
        # A short path: Postfix's UNIX sockets live under the queue folder
        # and socket paths are limited to about 100 bytes.
        root = tempfile.mkdtemp(prefix="lp-postfix-")
        # Postfix daemons run as the postfix user and must reach the queue.
        os.chmod(root, 0o711)  # noqa: S103 - traverse only, nothing listed or written
        instance = PostfixInstance(root, relay_port, lmtp_port)
        made.append(instance)
        return instance

    yield make
    for instance in made:
        try:
            instance.stop()
        finally:
            shutil.rmtree(instance.root, ignore_errors=True)
