"""A private slapd on loopback, started by the tests that need LDAP (CRL
distribution points). Debian's slapd package; configured in a temp folder."""

import base64
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

SUFFIX = "dc=example,dc=test"

CONFIG = """include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {root}/slapd.pid
database mdb
suffix "{suffix}"
rootdn "cn=admin,{suffix}"
directory {root}/db
"""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wrap(data):
    text = base64.b64encode(data).decode()
    return "\n ".join(text[i : i + 76] for i in range(0, len(text), 76))


class Slapd:
    def __init__(self, root):
        self.root = Path(root)
        self.port = _free_port()
        self.process = None

    def start(self, crls):
        """`crls` maps a CA common name to CRL bytes; each becomes cn=NAME,SUFFIX."""
        (self.root / "db").mkdir(parents=True)
        conf = self.root / "slapd.conf"
        conf.write_text(CONFIG.format(root=self.root, suffix=SUFFIX))
        ldif = [f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n"]
        for name, crl in crls.items():
            ldif.append(
                f"dn: cn={name},{SUFFIX}\nobjectClass: applicationProcess\nobjectClass: certificationAuthority\n"
                f"cn: {name}\ncACertificate;binary:: AA==\nauthorityRevocationList;binary:: AA==\n"
                f"certificateRevocationList;binary:: {_wrap(crl)}\n"
            )
        (self.root / "data.ldif").write_text("\n".join(ldif))
        subprocess.run(
            ["slapadd", "-f", str(conf), "-l", str(self.root / "data.ldif")], check=True, capture_output=True
        )
        self.process = subprocess.Popen(
            ["slapd", "-f", str(conf), "-h", f"ldap://127.0.0.1:{self.port}/", "-d", "0"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("slapd did not start")

    def url(self, name):
        return f"ldap://127.0.0.1:{self.port}/cn={name},{SUFFIX}?certificateRevocationList;binary"

    def stop(self):
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def slapd(tmp_path):
    if not shutil.which("slapd") and not os.path.exists("/usr/sbin/slapd"):
        if os.environ.get("LOCKPOST_REQUIRE_SERVICES"):
            pytest.fail("slapd is not installed (scripts/install-debian-packages installs it)")
        pytest.skip("slapd is not installed")
    server = Slapd(tmp_path / "slapd")
    yield server
    server.stop()
