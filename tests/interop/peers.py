"""Drive the independent S/MIME implementations: OpenSSL (cms), NSS (cmsutil), GnuPG (gpgsm).

Each peer works in its own folder (an NSS database, a GnuPG home) made
under the test's tmp_path. Messages pass as bytes; helpers cut CMS out of
S/MIME with the standard library only, so no Lockpost code judges a peer.
"""

import base64
import email
import email.policy
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from tests.smime.pki import PASSWORD, Holder

TIMEOUT = 60


def require(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (see scripts/install-debian-packages)")


def run(args: list[str], *, input: bytes | None = None, env=None, cwd=None, check=True) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, input=input, capture_output=True, env=env, cwd=cwd, timeout=TIMEOUT)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, args))} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')}"
        )
    return proc


# ---------------------------------------------------------------- S/MIME <-> CMS, with the standard library


def cms_of(message: bytes) -> bytes:
    """The DER inside an application/pkcs7-mime message."""
    return email.message_from_bytes(message, policy=email.policy.compat32).get_payload(decode=True)


def detached_parts(message: bytes) -> tuple[bytes, bytes]:
    """(signed part bytes, signature DER) of a multipart/signed message, split on the boundary."""
    msg = email.message_from_bytes(message, policy=email.policy.compat32)
    delimiter = b"--" + msg.get_boundary().encode()
    crlf = message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    body = crlf.split(b"\r\n\r\n", 1)[1]
    first = body.index(delimiter + b"\r\n")
    start = first + len(delimiter) + 2
    end = body.index(b"\r\n" + delimiter, start)
    signature = msg.get_payload()[1].get_payload(decode=True)
    return body[start:end], signature


def as_message(der: bytes, smime_type: str, headers: bytes = b"Subject: from a peer\r\n") -> bytes:
    """Wrap a peer's raw CMS output as an application/pkcs7-mime message."""
    lines = base64.encodebytes(der).replace(b"\n", b"\r\n")
    return (
        headers
        + b"MIME-Version: 1.0\r\n"
        + f'Content-Type: application/pkcs7-mime; smime-type={smime_type}; name="smime.p7m"\r\n'.encode()
        + b"Content-Transfer-Encoding: base64\r\n\r\n"
        + lines
    )


def as_multipart_signed(content: bytes, signature: bytes, micalg: str = "sha-256") -> bytes:
    boundary = b"peer-boundary-5f3a"
    return (
        b"Subject: signed by a peer\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg='
        + micalg.encode()
        + b'; boundary="'
        + boundary
        + b'"\r\n\r\n--'
        + boundary
        + b"\r\n"
        + content
        + b"\r\n--"
        + boundary
        + b"\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(signature).replace(b"\n", b"\r\n")
        + b"\r\n--"
        + boundary
        + b"--\r\n"
    )


# ---------------------------------------------------------------- OpenSSL


class OpenSSL:
    def __init__(self, folder: Path, pki):
        require("openssl")
        self.dir = folder
        self.dir.mkdir(parents=True, exist_ok=True)
        # OpenSSL 3.0 builds no chain from -certfile when verifying: intermediates go in -CAfile.
        self.cafile = self._write("ca.pem", pki.root.cert_pem() + pki.intermediate.cert_pem())

    def _write(self, name: str, data: bytes) -> str:
        path = self.dir / name
        path.write_bytes(data)
        return str(path)

    def _files(self, holder: Holder) -> tuple[str, str]:
        return self._write(f"{holder.name}.crt", holder.cert_pem()), self._write(f"{holder.name}.key", holder.key_pem())

    def decrypt(self, message: bytes, holder: Holder) -> bytes:
        cert, key = self._files(holder)
        inp = self._write("in.eml", message)
        return run(["openssl", "cms", "-decrypt", "-in", inp, "-recip", cert, "-inkey", key]).stdout

    def verify(self, message: bytes) -> bytes:
        """The signed content, or AssertionError if OpenSSL rejects the signature or the chain."""
        inp = self._write("in.eml", message)
        return run(["openssl", "cms", "-verify", "-in", inp, "-CAfile", self.cafile, "-purpose", "smimesign"]).stdout

    def encrypt(self, content: bytes, holders: list[Holder], cipher: str = "-aes256", oaep: bool = False) -> bytes:
        inp = self._write("content.txt", content)
        args = ["openssl", "cms", "-encrypt", "-binary", "-in", inp, cipher]
        for h in holders:
            args += ["-recip", self._files(h)[0]]
            if oaep:
                args += ["-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256"]
        return run(args).stdout

    def sign(self, content: bytes, holder: Holder, *, detached=True, md="sha256", pss=False) -> bytes:
        cert, key = self._files(holder)
        chain = self._write("chain.pem", b"".join(c.public_bytes(Encoding.PEM) for c in holder.chain))
        inp = self._write("content.txt", content)
        args = ["openssl", "cms", "-sign", "-binary", "-in", inp, "-signer", cert, "-inkey", key, "-certfile", chain]
        args += ["-md", md] + ([] if detached else ["-nodetach"])
        if pss:
            args += ["-keyopt", "rsa_padding_mode:pss"]
        return run(args).stdout


# ---------------------------------------------------------------- NSS


class Nss:
    def __init__(self, folder: Path, pki):
        for tool in ("certutil", "cmsutil", "pk12util"):
            require(tool)
        self.pki = pki
        self.dir = folder
        self.dir.mkdir(parents=True, exist_ok=True)
        self.db = f"sql:{folder}"
        run(["certutil", "-N", "-d", self.db, "--empty-password"])
        self._root_set = False

    def add_identity(self, holder: Holder) -> None:
        p12 = self.dir / f"{holder.name}.p12"
        p12.write_bytes(holder.pkcs12())
        run(["pk12util", "-i", str(p12), "-d", self.db, "-W", PASSWORD.decode()])
        # Importing a PKCS#12 holding the root resets its trust: set it afterwards.
        self._trust_root()

    def add_certificate(self, holder: Holder) -> None:
        pem = self.dir / f"{holder.name}.crt"
        pem.write_bytes(holder.cert_pem())
        run(["certutil", "-A", "-n", holder.name, "-t", ",,", "-i", str(pem), "-d", self.db])
        self._trust_root()

    def _trust_root(self) -> None:
        root = self.dir / "root.crt"
        root.write_bytes(self.pki.root.cert_pem())
        inter = self.dir / "inter.crt"
        inter.write_bytes(self.pki.intermediate.cert_pem())
        run(["certutil", "-A", "-n", "test-root", "-t", "C,C,C", "-i", str(root), "-d", self.db])
        run(["certutil", "-A", "-n", "test-intermediate", "-t", ",,", "-i", str(inter), "-d", self.db])

    def decrypt(self, der: bytes) -> bytes:
        inp = self.dir / "in.der"
        inp.write_bytes(der)
        return run(["cmsutil", "-D", "-i", str(inp), "-d", self.db]).stdout

    def verify(self, der: bytes, content: bytes | None = None) -> tuple[list[str], bytes]:
        """(signer statuses, content). cmsutil exits 0 even for a bad signature: read the statuses."""
        inp = self.dir / "sig.der"
        inp.write_bytes(der)
        args = ["cmsutil", "-D", "-i", str(inp), "-d", self.db, "-u", "4", "-h", "1"]
        if content is not None:
            data = self.dir / "content.bin"
            data.write_bytes(content)
            args += ["-c", str(data)]
        proc = run(args, check=False)
        statuses = [
            part.split("=", 1)[1]
            for part in proc.stdout.decode(errors="replace").replace(";", " ").split()
            if ".status=" in part
        ]
        return statuses or [f"failed: {proc.stderr.decode(errors='replace').strip()}"], proc.stdout

    def encrypt(self, content: bytes, emails: list[str]) -> bytes:
        inp = self.dir / "content.bin"
        inp.write_bytes(content)
        out = self.dir / "out.der"
        args = ["cmsutil", "-E", "-i", str(inp), "-o", str(out), "-d", self.db]
        for e in emails:
            args += ["-r", e]
        run(args)
        return out.read_bytes()

    def sign(self, content: bytes, nickname: str, *, detached=True, hash_name="SHA256") -> bytes:
        inp = self.dir / "content.bin"
        inp.write_bytes(content)
        out = self.dir / "sig.der"
        args = ["cmsutil", "-S", "-N", nickname, "-i", str(inp), "-o", str(out), "-d", self.db, "-H", hash_name]
        args += ["-G", "-P", "-Y", nickname] + (["-T"] if detached else [])
        run(args)
        return out.read_bytes()


# ---------------------------------------------------------------- GnuPG


GPGSM_PKCS12_ATTEMPTS = 3


class Gpgsm:
    """One GnuPG home per test: parallel imports into a shared home can fail."""

    def __init__(self, pki):
        for tool in ("gpgsm", "gpgconf"):
            require(tool)
        # A short home: gpg-agent's socket path must fit in 108 bytes, which
        # pytest's (xdist) tmp_path does not; a long home fails with "Bad data".
        folder = Path(tempfile.mkdtemp(prefix="lp-gpgsm-"))
        self.home = folder
        (folder / "gpg-agent.conf").write_text("allow-loopback-pinentry\n")
        # No dirmngr here: CRLs cannot be fetched.
        (folder / "gpgsm.conf").write_text("disable-crl-checks\n")
        fp = pki.root.certificate.fingerprint(hashes.SHA1()).hex(":").upper()  # noqa: S303 (gpgsm names roots by SHA-1)
        (folder / "trustlist.txt").write_text(f"{fp} S\n")
        self.env = {**os.environ, "GNUPGHOME": str(folder)}
        self._gpgsm(["--import"], pki.root.cert_pem() + pki.intermediate.cert_pem())

    def close(self) -> None:
        subprocess.run(["gpgconf", "--kill", "all"], env=self.env, capture_output=True, timeout=TIMEOUT)
        shutil.rmtree(self.home, ignore_errors=True)

    def _gpgsm(self, args: list[str], stdin: bytes | None = None, check=True) -> subprocess.CompletedProcess:
        return run(["gpgsm", "--batch", "--status-fd", "2", *args], input=stdin, env=self.env, check=check)

    def _with_passphrase(self, args: list[str], path: Path, check=True) -> subprocess.CompletedProcess:
        return run(
            [
                "gpgsm",
                "--batch",
                "--status-fd",
                "2",
                "--pinentry-mode",
                "loopback",
                "--passphrase-fd",
                "0",
                *args,
                str(path),
            ],
            input=PASSWORD + b"\n",
            env=self.env,
            check=check,
        )

    def add_identity(self, holder: Holder) -> None:
        # gpgsm reads only the legacy PKCS#12 form, and even that not always:
        # about 1 file in 40 (random salts) fails its parser ("encryptedData
        # error at outer.outer.seq"). A freshly made file imports.
        p12 = self.home / f"{holder.name}.p12"
        for _ in range(GPGSM_PKCS12_ATTEMPTS):
            p12.write_bytes(holder.pkcs12(legacy=True))
            done = self._with_passphrase(["--import"], p12, check=False)
            # Only the key counts: the chain's certificates come back "unchanged" even then.
            if b"secret keys imported: 1" in done.stderr or b"secret keys unchanged: 1" in done.stderr:
                return
        raise AssertionError(f"gpgsm did not import {holder.name}'s key: {done.stderr.decode(errors='replace')}")

    def add_certificate(self, holder: Holder) -> None:
        self._gpgsm(["--import"], holder.cert_pem())

    def decrypt(self, der: bytes) -> bytes:
        inp = self.home / "in.der"
        inp.write_bytes(der)
        # gpgsm exits 2 when it cannot find the certificate of another recipient,
        # even after decrypting: DECRYPTION_OKAY is the verdict.
        proc = self._with_passphrase(["--decrypt"], inp, check=False)
        status = proc.stderr.decode(errors="replace")
        if "DECRYPTION_OKAY" not in status:
            raise AssertionError(f"gpgsm could not decrypt: {status}")
        return proc.stdout

    def verify(self, der: bytes, content: bytes | None = None) -> tuple[str, bytes]:
        """(status lines, content). Good means GOODSIG and VALIDSIG and TRUST_FULLY."""
        sig = self.home / "sig.der"
        sig.write_bytes(der)
        args = ["--verify", str(sig)]
        if content is not None:
            data = self.home / "content.bin"
            data.write_bytes(content)
            args.append(str(data))
        else:
            args = ["--output", "-", *args]
        proc = self._gpgsm(args, check=False)
        return proc.stderr.decode(errors="replace"), proc.stdout

    def encrypt(self, content: bytes, emails: list[str], cipher: str = "AES256") -> bytes:
        args = ["--encrypt", "--cipher-algo", cipher]
        for e in emails:
            args += ["-r", e]
        return self._gpgsm(args, content).stdout

    def sign(self, content: bytes, email_address: str, *, detached=True) -> bytes:
        data = self.home / "content.bin"
        data.write_bytes(content)
        args = ["--sign", "-u", email_address] + (["--detach-sign"] if detached else [])
        return self._with_passphrase(args, data).stdout


def good_gpgsm(status: str) -> bool:
    return "GOODSIG" in status and "VALIDSIG" in status and "TRUST_FULLY" in status and "BADSIG" not in status
