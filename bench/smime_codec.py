"""S/MIME codec throughput: sign, encrypt, sign+encrypt, decrypt+verify, per second.

Codec only (no LMTP, no database): whole messages in, whole messages out,
with the defaults (RSA-2048, SHA-256, AES-256-CBC, RSA PKCS#1 v1.5), trust
checked against the test root. Run: python bench/smime_codec.py [seconds] [repeats]

Each figure is the best of ``repeats`` runs (default 3): on a shared machine
other work only ever slows a run down, so the best run is the fairest.
"""

import datetime
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.smime import encrypt_message, sign_and_encrypt_message, sign_message, unwrap
from tests.smime import pki as pki_module


def message(size: int) -> bytes:
    head = (
        b"From: Alice <alice@example.test>\r\nTo: Bob <bob@example.test>\r\nSubject: bench\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
    )
    line = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\r\n"
    return head + line * (size // len(line) + 1)


def rate(func, seconds: float, repeats: int = 1) -> float:
    func()  # warm up
    best = 0.0
    for _ in range(repeats):
        n, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            func()
            n += 1
        best = max(best, n / elapsed)
    return best


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    pki = pki_module.build()
    recipients = [pki.bob.certificate, pki.alice.certificate]
    now = datetime.datetime.now(datetime.UTC)
    print(f"S/MIME codec, one process, {os.cpu_count()} CPUs; RSA-2048, SHA-256, AES-256-CBC, 2 recipients")
    print(f"best of {repeats} runs of {seconds:g} s each")
    print(f"{'body':>6}  {'sign':>8}  {'encrypt':>8}  {'sign+enc':>8}  {'dec+verify':>10}   (operations per second)")
    for size, label in ((10_000, "10 KB"), (1_000_000, "1 MB")):
        figures = measure(message(size), pki, now, recipients, seconds, repeats)
        print(f"{label:>6}  {figures[0]:8.0f}  {figures[1]:8.0f}  {figures[2]:8.0f}  {figures[3]:10.0f}")


def measure(msg: bytes, pki, now, recipients, seconds: float, repeats: int) -> list[float]:
    alice, bob = pki.alice.identity, pki.bob.identity
    wrapped = sign_and_encrypt_message(msg, alice, recipients)

    def read():
        result = unwrap(wrapped, [bob], trust_roots=pki.roots, at=now)
        assert result.verified.verification.verdict == "valid"

    return [
        rate(lambda: sign_message(msg, alice), seconds, repeats),
        rate(lambda: encrypt_message(msg, recipients), seconds, repeats),
        rate(lambda: sign_and_encrypt_message(msg, alice, recipients), seconds, repeats),
        rate(read, seconds, repeats),
    ]


if __name__ == "__main__":
    main()
