"""OCSP: a local responder answers for certificates that name it; the
answers are signature-checked and honoured by selection."""

import http.server

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import ocsp as x509_ocsp

from ca import ocsp, selection, store
from ca.models import OcspResponse
from tests.support import pki
from tests.support.http_server import serving

pytestmark = pytest.mark.django_db


@pytest.fixture
def responder(root):
    """An OCSP responder on loopback; `answers` maps a serial to good/revoked,
    `signer` may be swapped to test bad signatures."""
    state = {"answers": {}, "signer": root, "requests": 0}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            state["requests"] += 1
            request = x509_ocsp.load_der_ocsp_request(self.rfile.read(int(self.headers["Content-Length"])))
            cert = state["answers"][request.serial_number]["cert"]
            revoked = state["answers"][request.serial_number]["revoked"]
            builder = x509_ocsp.OCSPResponseBuilder().add_response(
                cert=cert,
                issuer=root.cert,
                algorithm=hashes.SHA1(),  # noqa: S303 - the CertID hash OCSP uses
                cert_status=x509_ocsp.OCSPCertStatus.REVOKED if revoked else x509_ocsp.OCSPCertStatus.GOOD,
                this_update=pki.NOW - pki.DAY,
                next_update=pki.NOW + pki.DAY,
                revocation_time=pki.NOW - pki.DAY if revoked else None,
                revocation_reason=x509.ReasonFlags.key_compromise if revoked else None,
            )
            signer = state["signer"]
            response = builder.responder_id(x509_ocsp.OCSPResponderEncoding.HASH, signer.cert).sign(
                signer.key, hashes.SHA256()
            )
            body = response.public_bytes(pki.serialization.Encoding.DER)
            self.send_response(200)
            self.send_header("Content-Type", "application/ocsp-response")
            self.end_headers()
            self.wfile.write(body)

    with serving(Handler) as url:
        state["url"] = f"{url}/ocsp"
        yield state


def add_user(root, responder, revoked, name="Bob", slot=0):
    issued = pki.make(name, root, email=f"{name.lower()}@example.org", ocsp_url=responder["url"], slot=slot)
    responder["answers"][issued.cert.serial_number] = {"cert": issued.cert, "revoked": revoked}
    return store.add_certificate(issued.der)[0]


def test_good_answer_makes_the_status_known(root, responder):
    add_user(root, responder, revoked=False)
    assert selection.encryption_certificates("bob@example.org").verdicts[0].warning.startswith("revocation status")
    assert ocsp.refresh() == {"checked": 1, "failed": 0}
    verdict = selection.encryption_certificates("bob@example.org").verdicts[0]
    assert verdict.usable
    assert verdict.warning is None
    assert ocsp.refresh() == {"checked": 0, "failed": 0}  # fresh answers are not asked again
    assert responder["requests"] == 1


def test_revoked_answer_rejects(root, responder):
    add_user(root, responder, revoked=True)
    ocsp.refresh()
    assert OcspResponse.objects.get().status == "revoked"
    assert selection.encryption_certificates("bob@example.org").verdicts[0].problem.endswith("(OCSP)")


def test_a_response_signed_by_a_stranger_is_refused(root, responder):
    add_user(root, responder, revoked=True)
    responder["signer"] = pki.make("Root", ca=True, slot=3)
    assert ocsp.refresh() == {"checked": 0, "failed": 1}
    assert OcspResponse.objects.count() == 0
    assert selection.encryption_certificates("bob@example.org").verdicts[0].usable
