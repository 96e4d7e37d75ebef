"""Fixtures the worker's and delivery's tests share."""

import pytest

from gateway.models import Domain

# The core handlers, without S/MIME, PDF or DLP: what the worker's tests run.
DEFAULT_PIPELINE = [
    "gateway.handlers.classify.classify_recipients",
    "gateway.handlers.resolve_settings.resolve_settings",
    "gateway.handlers.group.group_recipients",
    "gateway.handlers.trace_header.add_trace_header",
]


@pytest.fixture
def rings(monkeypatch):
    """Records what the worker asks for instead of ringing a real worker."""
    rung = {"messages": [], "deliveries": []}
    monkeypatch.setattr("gateway.doorbell.ring", rung["messages"].append)
    monkeypatch.setattr("gateway.doorbell.ring_delivery", rung["deliveries"].append)
    return rung


@pytest.fixture
def corp(db):
    return Domain.objects.create(name="corp.test", internal=True)


@pytest.fixture
def with_handler(settings):
    """Runs the core pipeline with one handler (a dotted path) added at the end."""

    def use(path):
        settings.LOCKPOST_PIPELINE = [*DEFAULT_PIPELINE, path]

    return use


@pytest.fixture
def next_hop(settings, smtp_sink):
    settings.LOCKPOST_NEXT_HOP = smtp_sink.address
    settings.LOCKPOST_RETRY_FIRST = 60
    settings.LOCKPOST_RETRY_MAX = 3600
    return smtp_sink


@pytest.fixture
def scripted_next_hop(settings, make_smtp_sink):
    """A sink made with options, already set as the next hop."""

    def make(**options):
        sink = make_smtp_sink(**options)
        settings.LOCKPOST_NEXT_HOP = sink.address
        return sink

    settings.LOCKPOST_RETRY_FIRST = 60
    settings.LOCKPOST_RETRY_MAX = 3600
    return make
