"""S/MIME end to end: LMTP in, through a real `manage.py gateway` (one process
per core unless --processes says otherwise) and its pipeline, SMTP out to a
sink; each client keeps its LMTP connection, as Postfix does. For 10 KB and
1 MB messages: pass-through, sign, encrypt, sign+encrypt (internal sender,
outside recipient with a certificate) and decrypt+verify (outside sender, inside recipient whose key
the gateway holds). Prints messages per second, p50/p99 latency (LMTP
accepted -> arrived at the sink) and each figure's ratio to pass-through
from the same run, and the CPU milliseconds each message cost the gateway,
the database and the bench itself (client and sink), which the machine's
other load does not skew as it skews messages per second.

Uses a database of its own, named after DATABASE_URL's with a `_bench`
suffix (bench/common.py), made afresh each run.

    .venv/bin/python bench/smime_pipeline.py [--count 1000] [--big-count 40] [--clients 8]
"""

import argparse
import collections
import concurrent.futures
import os
import re
import subprocess
import sys
import tempfile
import time

from common import ROOT, KeptLMTP, bench_database, database_cpu_seconds, process_tree_cpu_seconds

MASTER_KEY = "bench-master-key-not-for-production-0123456789"
MESSAGE_ID = re.compile(rb"^Message-ID: <([^>]+)>", re.M | re.I)


def seed():
    """A fresh world: corp.test ours; Alice (corp) and Bob-inside hold keys;
    Bob (partner) has a certificate. Returns the holders (for the incoming mail)."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from ca.store import add_certificate, add_private_key
    from gateway.models import Domain
    from tests.smime import pki as smime_pki
    from tests.smime.pki import Holder

    Domain.objects.create(name="corp.test", internal=True)
    pki = smime_pki.build()

    def der(cert):
        return cert.public_bytes(Encoding.DER)

    def holder(address, key_too):
        key = smime_pki._rsa()
        cert = smime_pki._user(address, key, pki.intermediate.certificate, pki.intermediate.key)
        row, _ = add_certificate(der(cert))
        if key_too:
            add_private_key(row, key)
        return Holder(address, address, cert, key, (pki.intermediate.certificate, pki.root.certificate))

    add_certificate(der(pki.root.certificate), trust_anchor=True)
    add_certificate(der(pki.intermediate.certificate))
    return {
        "alice": holder("alice@corp.test", True),
        "bob": holder("bob@partner.test", False),
        "inside": holder("bob@corp.test", True),
        "eve": holder("eve@outside.test", False),
    }


def body(size):
    line = b"The quarterly figures are attached below; please keep them to yourself.  \r\n"
    return line * max(1, size // len(line))


def message(sender, to, size, mid):
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: bench\r\nMessage-ID: <{mid}>\r\n".encode()
        + b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + body(size)
    )


SCENARIOS = {
    # name: (signing_mode, encryption_mode, incoming)
    "pass-through": ("never", "never", False),
    "sign": ("always", "never", False),
    "encrypt": ("never", "if_possible", False),
    "sign+encrypt": ("always", "if_possible", False),
    "decrypt+verify": ("never", "never", True),
}


def configure(signing, encryption):
    from gateway.models import Setting

    Setting.objects.filter(domain=None, user=None).delete()
    Setting.objects.create(key="signing_mode", value=signing)
    Setting.objects.create(key="encryption_mode", value=encryption)


def run_scenario(name, size, count, clients, gw_port, sink, holders, gateway_pid=None):
    from gateway.smime import encrypt_message, sign_message

    signing, encryption, incoming = SCENARIOS[name]
    configure(signing, encryption)
    sink.received.clear()
    if incoming:
        # One signed and encrypted message, as an outside client writes it; each send gets its own Message-ID outside.
        inner = sign_message(message("eve@outside.test", "bob@corp.test", size, "x"), holders["eve"].identity)
        template = encrypt_message(inner, [holders["inside"].certificate])
        template = re.sub(rb"^Message-ID: <[^>]+>\r\n", b"", template, flags=re.M)
        sender, rcpt = "eve@outside.test", "bob@corp.test"
    else:
        sender, rcpt = "alice@corp.test", "bob@partner.test"
    sent_at = {}

    def one(n):
        mid = f"{name}-{size}-{n}@bench"
        data = f"Message-ID: <{mid}>\r\n".encode() + template if incoming else message(sender, rcpt, size, mid)
        sent_at[mid.encode()] = time.monotonic()
        replies = lmtp.send(sender, [rcpt], data)
        assert all(r.code == 250 for r in replies), replies

    lmtp = KeptLMTP("127.0.0.1", gw_port)
    cpu_before = _cpu(gateway_pid)
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(count)))
    lmtp.close()
    deadline = time.monotonic() + 600
    while len(sink.received) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    ended = time.monotonic()
    cpu_after = _cpu(gateway_pid)
    latencies = []
    for mail in sink.received:
        # Arrival times are wall clock; convert through the offset now.
        mid = MESSAGE_ID.search(mail.data)
        arrived = ended - (time.time() - mail.at)
        if mid and mid.group(1) in sent_at:
            latencies.append(arrived - sent_at[mid.group(1)])
    check(name, sink.received[0].data)
    latencies.sort()
    return {
        "rate": len(sink.received) / (ended - started),
        "p50": latencies[len(latencies) // 2] * 1000,
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "got": len(sink.received),
        # CPU milliseconds per message: a figure the machine's other load does not skew.
        "cpu": {part: (cpu_after[part] - cpu_before[part]) * 1000 / count for part in cpu_before},
    }


def _cpu(gateway_pid):
    from django.db import connection

    return {
        "gateway": process_tree_cpu_seconds(gateway_pid) if gateway_pid else 0.0,
        "database": database_cpu_seconds(connection.settings_dict["NAME"]),
        "bench": time.process_time(),
    }


def check(name, data):
    """What arrived is what the scenario should make (no silent pass-through)."""
    head = data.split(b"\r\n\r\n", 1)[0].lower()
    want = {
        "sign": b"multipart/signed",
        "encrypt": b"enveloped-data",
        "sign+encrypt": b"enveloped-data",
        "decrypt+verify": b"x-lockpost-info-signature: valid",
    }.get(name)
    if want and want not in head.replace(b"\r\n ", b" "):
        raise SystemExit(f"{name}: the output is not what it should be:\n{head[:800].decode(errors='replace')}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Long enough to measure the steady state, not a short burst's start and end.
    parser.add_argument("--count", type=int, default=1000, help="messages per 10 KB scenario")
    parser.add_argument("--big-count", type=int, default=40, help="messages per 1 MB scenario")
    # Postfix delivers to one LMTP destination over up to 20 connections
    # (lmtp_destination_concurrency_limit); 8 is a middling load.
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--processes", type=int, default=os.cpu_count(), help="gateway processes (one per core)")
    parser.add_argument("--only", nargs="+", choices=list(SCENARIOS), help="these scenarios (pass-through always runs)")
    args = parser.parse_args()
    scenarios = ["pass-through", *(n for n in SCENARIOS if n != "pass-through" and (not args.only or n in args.only))]
    os.environ.setdefault("LOCKPOST_MASTER_KEY", MASTER_KEY)
    os.environ.setdefault("LOCKPOST_LOG_LEVEL", "WARNING")
    bench_database("smime")
    holders = seed()

    from sink import Sink

    from gateway.lmtp import parse_hostport  # noqa: F401 - the gateway's own modules load
    from tests.support.gateway_process import database_url, free_port

    sink = Sink().start()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-smime-") as var:
        env = dict(os.environ, DATABASE_URL=database_url(), LOCKPOST_NEXT_HOP=sink.address, LOCKPOST_VAR_DIR=var,
                   CELERY_BROKER_URL="", LOCKPOST_LOG_LEVEL="WARNING", PYTHONUNBUFFERED="1")  # fmt: skip
        gateway = subprocess.Popen(
            [sys.executable, "manage.py", "gateway", "--lmtp", f"127.0.0.1:{port}", "--processes", str(args.processes)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        said = collections.deque(maxlen=40)
        try:
            for line in gateway.stdout:
                said.append(line)
                if "gateway ready" in line:
                    break
            else:
                raise SystemExit("the gateway did not start")
            # Drain its output so it never blocks on a full pipe; keep the end
            # of it (warnings and errors only) to show should the run fail.
            drain = concurrent.futures.ThreadPoolExecutor(1)
            drain.submit(lambda: said.extend(gateway.stdout))
            print(
                f"CPUs: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.2f}, "
                f"clients: {args.clients}, gateway processes: {args.processes}"
            )
            for size, count, label in ((10 * 1024, args.count, "10 KB"), (1024 * 1024, args.big_count, "1 MB")):
                if not count:
                    continue
                run_scenario("pass-through", size, min(count, 20), args.clients, port, sink, holders)  # warm up
                results = {
                    n: run_scenario(n, size, count, args.clients, port, sink, holders, gateway.pid) for n in scenarios
                }
                base = results["pass-through"]["rate"]
                print(f"\n{label}, {count} messages each")
                print(
                    f"{'scenario':16} {'msg/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'ratio':>6}"
                    "   CPU ms/msg: gateway database bench"
                )
                for n, r in results.items():
                    cpu = r["cpu"]
                    print(
                        f"{n:16} {r['rate']:8.1f} {r['p50']:8.1f} {r['p99']:8.1f} {r['rate'] / base:6.2f}"
                        f"   {cpu['gateway']:22.1f} {cpu['database']:8.1f} {cpu['bench']:5.1f}"
                    )
            print(f"\nload average after: {os.getloadavg()[0]:.2f}")
        except BaseException:
            print("the run failed; the gateway's last words:", *said, sep="\n", end="", file=sys.stderr)
            raise
        finally:
            gateway.terminate()
            gateway.wait(60)
            sink.stop()


if __name__ == "__main__":
    main()
