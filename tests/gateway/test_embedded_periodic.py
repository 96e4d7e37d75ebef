"""Without Celery, the embedded worker runs beat's schedule itself: here the
CRL refresh, against a local web server."""

import time

import pytest

from ca import store
from ca.models import RevocationList
from gateway.embedded import EmbeddedWorker
from tests.support import pki
from tests.support.http_server import file_server


@pytest.fixture
def crl_server():
    root = pki.make("Root", ca=True, slot=1)
    with file_server() as (url, files, _):
        files["/root.crl"] = pki.crl(root, [])
        yield root, f"{url}/root.crl"


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
