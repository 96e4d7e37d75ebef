"""Without Celery, the embedded worker runs beat's schedule itself: here the
CRL refresh, against a local web server."""

import http.server
import threading
import time

import pytest

from ca import store
from ca.models import RevocationList
from gateway.embedded import EmbeddedWorker
from tests.support import pki


@pytest.fixture
def crl_server():
    root = pki.make("Root", ca=True, slot=1)
    body = pki.crl(root, [])

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/root.crl"
    server.shutdown()


@pytest.mark.django_db(transaction=True)
def test_embedded_worker_refreshes_crls_on_beats_schedule(crl_server, settings):
    root, url = crl_server
    store.add_certificate(root.der, trust_anchor=True)
    store.add_certificate(pki.make("Bob", root, email="bob@example.org", crl_url=url).der)
    settings.CELERY_BEAT_SCHEDULE = {"crls": {"task": "ca.tasks.refresh_crls", "schedule": 0.3}}
    worker = EmbeddedWorker(threads=1, sweep_interval=60).start()
    try:
        deadline = time.monotonic() + 15
        while not RevocationList.objects.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        worker.stop()
    assert RevocationList.objects.get().url == url
