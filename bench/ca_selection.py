"""Certificate store at scale: import N certificates (default 1,000,000,
generated once and cached in bench/.cache), then time selection for random
addresses. Prints imports per second and selection p50/p99.

    DATABASE_URL=postgres://... .venv/bin/python bench/ca_selection.py [--count N]

Uses its own database (the name in DATABASE_URL with a _bench suffix), made
afresh each run."""

import argparse
import datetime
import multiprocessing
import random
import statistics
import struct
import time

from common import ROOT, bench_database

CACHE = ROOT / "bench" / ".cache"


def _ca():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    # A fixed key, so the cached certificates and the CA stay a pair.
    key = ec.derive_private_key(0xB00C_0FFEE_5EED, ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bench Root")])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _make_chunk(args):
    start, count = args
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ca_cert, ca_key = _ca()
    # Leaf keys are what is slow to make; a bench needs distinct certificates, not distinct keys.
    leaf_keys = [ec.generate_private_key(ec.SECP256R1()).public_key() for _ in range(16)]
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    usage = x509.KeyUsage(True, False, False, False, True, False, False, False, False)
    out = []
    for i in range(start, start + count):
        email = f"user{i}@bench{i % 1000}.example"
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, email)]))
            .issuer_name(ca_cert.subject)
            .public_key(leaf_keys[i % 16])
            .serial_number(i + 2)
            .not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1500))
            .add_extension(usage, critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        out.append(cert.public_bytes(serialization.Encoding.DER))
    return out


def certificates(count):
    """The cached certificates (length-prefixed DER), generated if missing."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"certs-{count}.bin"
    if not path.exists():
        print(f"generating {count:,} certificates once (cached in {path.relative_to(ROOT)}) ...", flush=True)
        chunk = 5000
        jobs = [(i, min(chunk, count - i)) for i in range(0, count, chunk)]
        tmp = path.with_suffix(".tmp")
        with multiprocessing.Pool() as pool, tmp.open("wb") as f:
            for ders in pool.imap(_make_chunk, jobs):
                for der in ders:
                    f.write(struct.pack(">I", len(der)) + der)
        tmp.rename(path)
    data = path.read_bytes()
    ders, pos = [], 0
    while pos < len(data):
        (n,) = struct.unpack_from(">I", data, pos)
        ders.append(data[pos + 4 : pos + 4 + n])
        pos += 4 + n
    return ders


def settle(vendor):
    """What autovacuum would do minutes after a bulk import, done now and
    untimed: selection is timed on a settled store, not amid the checkpoint
    and the first-read hint-bit writes that follow a million-row COPY."""
    if vendor != "postgresql":
        return
    from django.db import connection

    from ca.models import Certificate, CertificateEmail

    with connection.cursor() as cursor:
        for model in (Certificate, CertificateEmail):
            cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(model._meta.db_table)}")
        cursor.execute("CHECKPOINT")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=2000)
    args = parser.parse_args()
    ders = certificates(args.count)
    vendor = bench_database("ca")

    from cryptography.hazmat.primitives import serialization

    from ca import selection, store

    ca_cert, _ = _ca()
    store.add_certificate(ca_cert.public_bytes(serialization.Encoding.DER), trust_anchor=True)

    batch = 10_000
    started = time.perf_counter()
    for i in range(0, len(ders), batch):
        store.add_many(ders[i : i + batch])
        if (i // batch) % 10 == 0:
            print(f"  {i + batch:,} imported", end="\r", flush=True)
    elapsed = time.perf_counter() - started
    print(
        f"database: {vendor}; imported {len(ders):,} certificates in {elapsed:.1f} s: "
        f"{len(ders) / elapsed:,.0f} imports/s"
    )

    settle(vendor)
    at = datetime.datetime(2026, 6, 1, tzinfo=datetime.UTC)
    rng = random.Random(7)
    times = []
    for n in range(args.lookups):
        i = rng.randrange(args.count)
        started = time.perf_counter()
        chosen = selection.encryption_certificates(f"user{i}@bench{i % 1000}.example", at=at).chosen
        times.append((time.perf_counter() - started) * 1000)
        assert len(chosen) == 1, (i, n)
    times.sort()
    p50 = statistics.median(times)
    p99 = times[int(len(times) * 0.99) - 1]
    print(f"selection over {args.lookups:,} random addresses: p50 {p50:.2f} ms, p99 {p99:.2f} ms")


if __name__ == "__main__":
    main()
