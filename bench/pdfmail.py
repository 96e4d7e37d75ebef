"""PDF mail throughput and memory.

    .venv/bin/python bench/pdfmail.py [--seconds 5]

Prints messages per second (one core, render + attach + encrypt) for a 10 KB
text message, a 10 KB HTML message with an inline image, and a message with
a 1 MB attachment, each with AES-256 and AES-128; then the peak memory of
one message with a 25 MB attachment, in a fresh process: resident memory
once the test message is built and the libraries are loaded, and the peak
while the PDF is made (the test message itself is not counted)."""

import argparse
import base64
import gc
import os
import random
import resource
import subprocess
import sys
import time
from email import policy
from email.message import EmailMessage
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.pdfmail import encrypted_message_pdf

WORDS = [
    "the",
    "quarterly",
    "figures",
    "merger",
    "contract",
    "invoice",
    "meeting",
    "agenda",
    "notes",
    "budget",
    "review",
    "draft",
    "final",
]
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAQAAAAECAIAAAAmkwkpAAAAEklEQVR4nGP4z8CAB+GTG8HSALfKY52fOtQ/AAAAAElFTkSuQmCC"
)


def prose(size: int, rng: random.Random) -> str:
    out, n = [], 0
    while n < size:
        line = " ".join(rng.choice(WORDS) for _ in range(12))
        out.append(line)
        n += len(line) + 1
    return "\n".join(out)


def base(subject: str) -> EmailMessage:
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = "Ann Smith <ann@example.com>"
    msg["To"] = "bob@example.org"
    msg["Date"] = "Tue, 03 Nov 2026 10:00:00 +0100"
    msg["Subject"] = subject
    return msg


def text_10k(rng) -> bytes:
    msg = base("10 KB text")
    msg.set_content(prose(10_000, rng))
    return msg.as_bytes()


def html_10k(rng) -> bytes:
    msg = base("10 KB HTML with inline image")
    paragraphs = "".join(f"<p>{p}</p>" for p in prose(9_500, rng).split("\n"))
    msg.set_content("plain alternative")
    msg.add_alternative(f'<h1>Report</h1><img src="cid:logo@x" width="64">{paragraphs}', subtype="html")
    msg.get_body(("html",)).add_related(PNG, "image", "png", cid="<logo@x>")
    return msg.as_bytes()


def with_attachment(size: int, rng=None, ctype=("application", "octet-stream")) -> bytes:
    msg = base(f"{size // 1024} KB attachment")
    msg.set_content("See attached.")
    msg.add_attachment(os.urandom(size), maintype=ctype[0], subtype=ctype[1], filename="data.bin")
    return msg.as_bytes()


def rate(raw: bytes, aes: int, seconds: float) -> tuple[float, float, float]:
    """(msg/s by the clock, ms per message, msg/s per CPU second). On a machine
    shared with other work the clock figure drops; the CPU one is the cost."""
    encrypted_message_pdf(raw, "bench-password", aes=aes)  # warm up (fonts, caches)
    n, start, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds or n < 3:
        encrypted_message_pdf(raw, "bench-password", aes=aes)
        n += 1
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    return n / elapsed, elapsed / n * 1000, n / cpu


def _rss_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Restart the kernel's peak-RSS count (Linux), so that the peak measured
    is this message's and not that of building the test message."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def peak_child(size_mb: int, ctype: str) -> None:
    """Run in a fresh process: build one message, report RSS before and peak."""
    raw = with_attachment(size_mb * 1024 * 1024, ctype=tuple(ctype.split("/")))
    encrypted_message_pdf(text_10k(random.Random(1)), "warm-up")  # load fonts and libraries first
    gc.collect()
    if _reset_peak() and (before := _rss_mb("VmRSS")) is not None:
        current_peak = lambda: _rss_mb("VmHWM")  # noqa: E731
    else:  # no per-process reset: the lifetime peak, which may hide this one
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        current_peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # noqa: E731
    start = time.perf_counter()
    pdf = encrypted_message_pdf(raw, "bench-password")
    elapsed = time.perf_counter() - start
    peak = current_peak()
    print(f"{before:.0f} {peak:.0f} {elapsed:.2f} {len(raw) / 2**20:.1f} {len(pdf) / 2**20:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--peak-child", nargs=2, metavar=("MB", "TYPE"))
    args = parser.parse_args()
    if args.peak_child:
        peak_child(int(args.peak_child[0]), args.peak_child[1])
        return

    rng = random.Random(42)
    cases = [
        ("10 KB text", text_10k(rng)),
        ("10 KB HTML + inline image", html_10k(rng)),
        ("1 MB attachment", with_attachment(1024 * 1024)),
    ]
    print(f"pdfmail: render + attach + encrypt, one core, {args.seconds:.0f} s per case")
    print(f"{'message':28} {'cipher':8} {'msg/s':>7} {'ms/msg':>8} {'msg/CPU-s':>10}")
    for name, raw in cases:
        for aes in (256, 128):
            per_second, ms, per_cpu_second = rate(raw, aes, args.seconds)
            print(f"{name:28} AES-{aes:<4} {per_second:7.1f} {ms:8.1f} {per_cpu_second:10.1f}")

    print("\npeak memory, one message with a 25 MB attachment (fresh process, AES-256):")
    for ctype in ("application/octet-stream", "video/mp4"):
        out = subprocess.run(
            [sys.executable, __file__, "--peak-child", "25", ctype], capture_output=True, text=True, check=True
        ).stdout.split()
        before, peak, elapsed, raw_mb, pdf_mb = out
        print(
            f"  {ctype:26} raw message {raw_mb} MB, PDF {pdf_mb} MB: RSS {before} MB before, peak {peak} MB"
            f" (+{int(peak) - int(before)} MB), {elapsed} s"
        )


if __name__ == "__main__":
    main()
