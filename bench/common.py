"""What the benchmarks share: Django set up on a database of their own."""

import os
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def bench_database(name):
    """Set Django up on a fresh database named after DATABASE_URL's with a
    `_bench_<name>` suffix (SQLite: a file in var/), so benchmarks do not wipe
    each other's data. Returns the connection's vendor."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lockpost.settings")
    os.environ.setdefault("LOCKPOST_INSECURE_DEV_SECRET", "1")
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_databases

    base = connection.settings_dict["NAME"]
    if connection.vendor == "sqlite":
        connection.settings_dict["TEST"]["NAME"] = str(Path(base).with_name(f"bench-{name}.sqlite3"))
    else:
        connection.settings_dict["TEST"]["NAME"] = f"{base}_bench_{name}"
    setup_databases(verbosity=0, interactive=False)
    return connection.vendor


def cpu_seconds(pid):
    """User + system CPU seconds a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_tree_cpu_seconds(pid):
    """CPU seconds of a process and of its children, theirs too (a gateway
    with sibling processes); children that ended meanwhile are not counted."""
    total = cpu_seconds(pid)
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                total += process_tree_cpu_seconds(int(child))
            except OSError:
                continue  # gone meanwhile
    return total


def database_cpu_seconds(database):
    """CPU seconds used so far by the PostgreSQL backends serving `database`
    (0 on SQLite, or where /proc does not show them). Backends that closed
    meanwhile are not counted: compare across one steady run."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            if cmdline.startswith(b"postgres: ") and f" {database} ".encode() in cmdline:
                total += cpu_seconds(int(entry.name))
        except OSError:
            continue  # gone meanwhile
    return total


class KeptLMTP:
    """Sends over one LMTP connection per client thread, kept from message to
    message, as Postfix's LMTP client keeps its connections to a busy
    destination. send(mail_from, rcpt_tos, data) -> the replies."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self._local = threading.local()
        self._clients = []
        self._lock = threading.Lock()

    def send(self, mail_from, rcpt_tos, data):
        from gateway.lmtp_client import LMTPClient

        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = LMTPClient(self.host, self.port).connect()
            with self._lock:
                self._clients.append(client)
        return client.sendmail(mail_from, rcpt_tos, data)

    def close(self):
        for client in self._clients:
            client.quit()
        self._clients.clear()
