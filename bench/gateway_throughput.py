"""The core's baseline: messages pushed through a running gateway, LMTP in
to an SMTP sink out, with the default pipeline (no protection applies).
Prints messages per second and p50/p99 latency for 1 KB, 10 KB and 1 MB
messages, then the gateway's peak memory while one 50 MB message passes.

    DATABASE_URL=postgres://... .venv/bin/python bench/gateway_throughput.py [--quick]

Each of the concurrent clients sends its next message when its last one has
arrived at the sink, so latency is one message's way through: from the start
of its LMTP session to its arrival at the sink. The gateway runs as its own process (`manage.py gateway`) on a
database of the bench's own; the sink and the sending clients run here."""

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

from common import bench_database

SIZES = [("1 KB", 1024, 400), ("10 KB", 10 * 1024, 400), ("1 MB", 1024 * 1024, 40)]
BIG = 50 * 1024 * 1024
CLIENTS = 4


def message(size, serial):
    head = (
        f"From: alice@example.com\r\nTo: bob@example.org\r\nSubject: bench {serial}\r\n"
        f"Message-ID: <bench-{serial}@example.com>\r\n\r\n"
    ).encode()
    line = b"The quick brown fox jumps over the lazy dog, again and again and again.\r\n"
    body = line * (max(0, size - len(head)) // len(line) + 1)
    return head + body[: max(0, size - len(head))]


def rss_kib(pid, field):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


class Run:
    def __init__(self, gateway, sink):
        self.gateway = gateway
        self.sink = sink
        self.serial = 0

    def push(self, size, count):
        """Send `count` messages of `size` bytes from CLIENTS threads, each
        sending its next message once its last one arrived at the sink (so a
        latency is one message's way through, not a queue's length). Returns
        (messages per second, p50 ms, p99 ms)."""
        from gateway.lmtp_client import send

        latencies = []
        serials = iter(range(self.serial, self.serial + count))
        self.serial += count
        lock = threading.Lock()

        def client():
            while True:
                with lock:
                    serial = next(serials, None)
                if serial is None:
                    return
                marker = f"Subject: bench {serial}\r\n".encode()
                started = time.time()
                replies = send(self.gateway.host, self.gateway.port, "alice@example.com", ["bob@example.org"],
                               message(size, serial))  # fmt: skip
                assert all(r.code == 250 for r in replies), replies
                arrived = self.sink_wait(marker)
                latencies.append((arrived - started) * 1000)

        begin = time.time()
        threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.time() - begin
        latencies.sort()
        p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)]
        return count / elapsed, statistics.median(latencies), p99

    def sink_wait(self, marker, timeout=600):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for mail in reversed(self.sink.received):
                if marker in mail.data[:4096]:
                    return mail.at
            time.sleep(0.002)
        raise TimeoutError(marker)


def start(next_hop, workdir, processes=1):
    from tests.support.gateway_process import GatewayProcess

    # Normal clocks, not the crash tests' fast ones.
    env = {
        "LOCKPOST_SWEEP_INTERVAL": "30",
        "LOCKPOST_PROCESS_LEASE": "60",
        "LOCKPOST_RING_GRACE": "120",
        "LOCKPOST_DELIVERY_LEASE": "600",
        "LOCKPOST_LOG_LEVEL": "WARNING",
    }
    return GatewayProcess(next_hop=next_hop, workdir=workdir, env=env, args=["--processes", str(processes)]).start()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the messages")
    parser.add_argument("--processes", type=int, default=os.cpu_count(), help="gateway processes (one per core)")
    args = parser.parse_args()
    vendor = bench_database("gateway")
    from sink import Sink

    workdir = Path(tempfile.mkdtemp(prefix="lockpost-bench-"))
    with Sink() as sink:
        gateway = start(sink.address, workdir / "gw", args.processes)
        try:
            run = Run(gateway, sink)
            run.push(1024, 20)  # warm up: imports, connections, first queries
            print(
                f"database: {vendor}; {CLIENTS} concurrent LMTP clients; {args.processes} gateway process(es); "
                "pass-through pipeline"
            )
            for label, size, count in SIZES:
                count = max(10, count // 10) if args.quick else count
                rate, p50, p99 = run.push(size, count)
                print(f"{label:>6}: {count:4d} messages, {rate:7.1f} msg/s, p50 {p50:7.1f} ms, p99 {p99:7.1f} ms")
        finally:
            gateway.stop()

        gateway = start(sink.address, workdir / "gw-big")
        try:
            run = Run(gateway, sink)
            run.push(1024, 5)
            baseline = rss_kib(gateway.proc.pid, "VmRSS")
            run.push(BIG, 1)
            peak = rss_kib(gateway.proc.pid, "VmHWM")
        finally:
            gateway.stop()
        growth = (peak - baseline) * 1024
        print(
            f" 50 MB: gateway peak memory grew {growth / 2**20:.0f} MiB = {growth / BIG:.2f} x the message "
            f"(target under 4 x)"
        )


if __name__ == "__main__":
    main()
