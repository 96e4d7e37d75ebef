"""Peak memory of the LMTP listener while one large message passes.

Starts a listener in a child process (its own SQLite database in a temporary
folder, or DATABASE_URL when set: that database gets migrated and receives
the message), sends one message of --size-mb megabytes over LMTP, and prints
how much the child's peak resident set grew, also as a multiple of the
message size. Target: under 4x.

    .venv/bin/python bench/lmtp_memory.py --size-mb 50
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def proc_status(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def serve():
    """Child: migrate, listen, then answer "rss" (current RSS, and reset the
    peak) and "peak" commands on stdin."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lockpost.settings")
    django.setup()
    from django.core.management import call_command

    from gateway.lmtp import Listener

    call_command("migrate", verbosity=0)
    listener = Listener(lmtp="127.0.0.1:0", smtp="", max_size=1 << 31).start()
    print(listener.lmtp_address[1], flush=True)
    for command in sys.stdin:
        command = command.strip()
        if command == "rss":
            with open("/proc/self/clear_refs", "w") as clear:
                clear.write("5")  # resets the peak (VmHWM) to the current RSS
            print(proc_status("VmRSS"), flush=True)
        elif command == "peak":
            print(proc_status("VmHWM"), flush=True)
    listener.stop()


def message_of(size):
    head = b"From: bench@example.org\r\nTo: sink@example.net\r\nSubject: large\r\n\r\n"
    line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcd\r\n"
    return head + line * ((size - len(head)) // len(line))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=50)
    args = parser.parse_args()

    from gateway.lmtp_client import send

    env = dict(os.environ, LOCKPOST_INSECURE_DEV_SECRET="1", LOCKPOST_LOG_LEVEL="WARNING")
    with tempfile.TemporaryDirectory() as var:
        env.setdefault("LOCKPOST_VAR_DIR", var)
        child = subprocess.Popen(
            [sys.executable, __file__, "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        try:
            port = int(child.stdout.readline())

            def ask(command):
                child.stdin.write(command + "\n")
                child.stdin.flush()
                return int(child.stdout.readline())

            data = message_of(int(args.size_mb * 1024 * 1024))
            before = ask("rss")
            started = time.monotonic()
            replies = send("127.0.0.1", port, "bench@example.org", ["sink@example.net"], data, timeout=600)
            elapsed = time.monotonic() - started
            peak = ask("peak")
        finally:
            child.stdin.close()
            child.wait(timeout=60)
    if replies[0].code != 250:
        sys.exit(f"message refused: {replies[0].code} {replies[0].text}")
    growth = peak - before
    database = "PostgreSQL" if "postgres" in env.get("DATABASE_URL", "") else "SQLite"
    print(f"message size:        {len(data) / 1e6:8.1f} MB")
    print(f"database:            {database}")
    print(f"listener RSS before: {before / 1e6:8.1f} MB")
    print(f"peak RSS growth:     {growth / 1e6:8.1f} MB  ({growth / len(data):.2f}x the message; target < 4x)")
    print(f"LMTP transfer+store: {elapsed:8.2f} s  ({len(data) / 1e6 / elapsed:.1f} MB/s)")


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
    else:
        main()
