"""Certificates and PKCS#12 files from our CA, checked by independent tools:
OpenSSL, NSS (Thunderbird's library) and gpgsm."""

import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.db import transaction

from ca import authority, pkcs12
from ca.keys import decrypt_private_key

PASSWORD = "Pickup-Code-42"

# The module's CA is made in the database (then rolled back); the mark makes
# pytest-django set up the test database for it.
pytestmark = pytest.mark.django_db


class _Rollback(Exception):
    pass


def _pem(row):
    return x509.load_der_x509_certificate(bytes(row.der)).public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def issued(tmp_path_factory, django_db_setup, django_db_blocker):
    """A default CA (RSA 3072) with an RSA and an EC user, written to files;
    the database rows are rolled back afterwards."""
    folder = tmp_path_factory.mktemp("ca")
    with django_db_blocker.unblock():
        try:
            with transaction.atomic():
                root = authority.create_root("Peer Test Root")
                for name, key_type in (("alice", "rsa3072"), ("eve", "p256")):
                    row = authority.issue(f"{name}@example.com", name.title(), key_type=key_type)
                    (folder / f"{name}.pem").write_bytes(_pem(row))
                    cert = x509.load_der_x509_certificate(bytes(row.der))
                    key = decrypt_private_key(row.private_key.encrypted_pkcs8)
                    chain = [x509.load_der_x509_certificate(bytes(root.certificate.der))]
                    data = pkcs12.export(key, cert, chain, PASSWORD, name.title())
                    (folder / f"{name}.p12").write_bytes(data)
                    # Three exports of the legacy form: see the gpgsm test for why.
                    for n in range(3):
                        data = pkcs12.export(key, cert, chain, PASSWORD, name.title(), legacy=True)
                        (folder / f"{name}-legacy-{n}.p12").write_bytes(data)
                (folder / "root.pem").write_bytes(_pem(root.certificate))
                raise _Rollback
        except _Rollback:
            pass
    return folder


def run(*args, **kwargs):
    return subprocess.run(args, capture_output=True, text=True, timeout=60, **kwargs)


@pytest.mark.parametrize(
    ("user", "purpose"),
    [("alice", "smimeencrypt"), ("alice", "smimesign"), ("eve", "smimesign")],
)
def test_openssl_accepts_our_certificates_for_smime(issued, user, purpose):
    # OpenSSL 3.0's smimeencrypt purpose demands keyEncipherment, which an EC
    # key does not have (it agrees keys): so EC is checked for signing only.
    result = run(
        "openssl", "verify", "-purpose", purpose, "-CAfile", str(issued / "root.pem"), str(issued / f"{user}.pem")
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert ": OK" in result.stdout


@pytest.fixture
def nss_db(issued, tmp_path):
    db = f"sql:{tmp_path}"
    assert run("certutil", "-N", "--empty-password", "-d", db).returncode == 0
    assert run("certutil", "-A", "-d", db, "-n", "root", "-t", "C,C,C", "-i", str(issued / "root.pem")).returncode == 0
    return db


@pytest.mark.parametrize("user", ["alice", "eve"])
@pytest.mark.parametrize("usage", ["R", "S"])
def test_nss_validates_our_certificates_for_email(issued, nss_db, user, usage):
    assert (
        run("certutil", "-A", "-d", nss_db, "-n", user, "-t", ",,", "-i", str(issued / f"{user}.pem")).returncode == 0
    )
    result = run("certutil", "-V", "-d", nss_db, "-n", user, "-u", usage)
    assert "certificate is valid" in result.stdout + result.stderr


@pytest.mark.parametrize("name", ["alice.p12", "alice-legacy-0.p12", "eve.p12"])
def test_nss_imports_our_pkcs12_in_both_forms(issued, nss_db, name):
    result = run("pk12util", "-i", str(issued / name), "-d", nss_db, "-W", PASSWORD)
    assert result.returncode == 0, result.stderr
    assert "Alice" in run("certutil", "-L", "-d", nss_db).stdout or name.startswith("eve")


def test_openssl_reads_modern_pkcs12_and_legacy_with_the_legacy_flag(issued):
    modern = run("openssl", "pkcs12", "-in", str(issued / "alice.p12"), "-passin", f"pass:{PASSWORD}", "-nodes")
    assert modern.returncode == 0, modern.stderr
    assert "BEGIN PRIVATE KEY" in modern.stdout
    assert "alice@example.com" in run("openssl", "x509", "-noout", "-email", input=modern.stdout).stdout
    legacy = run(
        "openssl",
        "pkcs12",
        "-legacy",
        "-in",
        str(issued / "alice-legacy-0.p12"),
        "-passin",
        f"pass:{PASSWORD}",
        "-nodes",
    )
    assert legacy.returncode == 0, legacy.stderr
    wrong = run("openssl", "pkcs12", "-in", str(issued / "alice.p12"), "-passin", "pass:wrong", "-nodes")
    assert wrong.returncode != 0


@pytest.fixture
def gnupg_home(issued, tmp_path):
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    (home / "gpg-agent.conf").write_text("allow-loopback-pinentry\n")
    # gpgsm checks CRLs only through dirmngr, which has no network here.
    (home / "gpgsm.conf").write_text("disable-crl-checks\n")
    env = {"GNUPGHOME": str(home), "PATH": "/usr/bin:/bin"}
    assert run("gpgsm", "--batch", "--import", str(issued / "root.pem"), env=env).returncode == 0
    listing = run("gpgsm", "--with-colons", "--list-keys", env=env).stdout
    fingerprint = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr"))
    (home / "trustlist.txt").write_text(f"{fingerprint} S\n")
    yield env
    run("gpgconf", "--kill", "all", env=env)


def gpgsm_import(env, path):
    return run(
        "gpgsm",
        "--batch",
        "--pinentry-mode",
        "loopback",
        "--passphrase-fd",
        "0",
        "--import",
        str(path),
        input=PASSWORD,
        env=env,
    )


def test_gpgsm_imports_legacy_pkcs12_and_finds_the_chain_good(issued, gnupg_home):
    # gpgsm 2.2's PKCS#12 parser refuses about 1 legacy file in 40 whatever
    # wrote it ("encryptedData error"; the bytes differ only in random salts),
    # so a user may have to download again: here, the next export must import.
    for n in range(3):
        result = gpgsm_import(gnupg_home, issued / f"alice-legacy-{n}.p12")
        if "secret keys imported: 1" in result.stderr:
            break
        assert "encryptedData error" in result.stderr, result.stderr
    assert "secret keys imported: 1" in result.stderr
    listing = run("gpgsm", "--with-validation", "--list-keys", "alice@example.com", env=gnupg_home)
    assert listing.returncode == 0, listing.stderr
    assert "[certificate is good]" in listing.stdout


def test_gpgsm_rejects_the_modern_form_which_is_why_legacy_exists(issued, gnupg_home):
    result = gpgsm_import(gnupg_home, issued / "alice.p12")
    assert "secret keys imported: 1" not in result.stderr
