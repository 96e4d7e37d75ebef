"""The S/MIME peers (OpenSSL, NSS, gpgsm) over one test PKI, for the interop
suites in both directions."""

import pytest

from tests.interop.peers import Gpgsm, Nss, OpenSSL
from tests.smime import pki as pki_module


@pytest.fixture(scope="session")
def pki():
    return pki_module.build()


@pytest.fixture
def openssl(tmp_path, pki):
    return OpenSSL(tmp_path / "openssl", pki)


@pytest.fixture
def nss(tmp_path, pki):
    return Nss(tmp_path / "nss", pki)


@pytest.fixture
def gpgsm(pki):
    peer = Gpgsm(pki)
    yield peer
    peer.close()
