"""Live updates over websockets (Channels), through the project's ASGI
application with its session and Origin checks: a new inbox message reaches
its recipient's open page and nobody else's; a quarantine change reaches
internal users' pages; sockets without a full login, or from another
site, are refused. With the in-memory layer, and with Redis."""

import json
import os

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from asgiref.testing import ApplicationCommunicator
from channels.layers import channel_layers
from django.conf import settings as django_settings
from django.utils import timezone

from dlp.models import QuarantinedMessage
from lockpost.asgi import application
from tests.portal.inbox_helpers import BOB, CAROL, external_client, internal_client, portal_partner, to_portal
from tests.support.spooled import spooled_message

pytestmark = pytest.mark.django_db(transaction=True)


class WebsocketCommunicator(ApplicationCommunicator):
    """What channels.testing.WebsocketCommunicator does (that package
    imports daphne, which Lockpost does not use: uvicorn serves ASGI)."""

    def __init__(self, app, path, headers=()):
        scope = {"type": "websocket", "path": path, "raw_path": path.encode(), "query_string": b"",
                 "headers": list(headers), "subprotocols": [], "client": ("127.0.0.1", 50000)}  # fmt: skip
        super().__init__(app, scope)

    async def connect(self, timeout=3):
        await self.send_input({"type": "websocket.connect"})
        reply = await self.receive_output(timeout)
        return reply["type"] == "websocket.accept", reply.get("code")

    async def receive_json_from(self, timeout=3):
        reply = await self.receive_output(timeout)
        assert reply["type"] == "websocket.send", reply
        return json.loads(reply["text"])

    async def disconnect(self, code=1000, timeout=1):
        await self.send_input({"type": "websocket.disconnect", "code": code})
        await self.wait(timeout)


REDIS_URL = os.environ.get("LOCKPOST_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


@pytest.fixture(autouse=True)
def quiet_doorbell(monkeypatch):
    monkeypatch.setattr("gateway.doorbell.ring", lambda *a: None)
    monkeypatch.setattr("gateway.doorbell.ring_delivery", lambda *a: None)
    portal_partner()


def redis_reachable():
    import redis

    try:
        return redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except Exception:
        return False


@pytest.fixture(params=["memory", "redis"])
def layer(request, settings):
    if request.param == "redis":
        if not redis_reachable():
            if os.environ.get("LOCKPOST_REQUIRE_SERVICES") == "1":
                pytest.fail(f"Redis is not reachable at {REDIS_URL}")
            pytest.skip(f"Redis is not reachable at {REDIS_URL}")
        settings.CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {"hosts": [REDIS_URL], "prefix": "lockpost-test"},
            }
        }
    else:
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    channel_layers.backends.clear()
    yield request.param
    channel_layers.backends.clear()


def socket(client, kind, origin="http://localhost"):
    cookie = f"{django_settings.SESSION_COOKIE_NAME}={client.cookies[django_settings.SESSION_COOKIE_NAME].value}"
    headers = [(b"cookie", cookie.encode()), (b"origin", origin.encode()), (b"host", b"localhost")]
    return WebsocketCommunicator(application, f"/ws/live/{kind}/", headers=headers)


def run(scenario):
    """Run one async scenario on one event loop (a communicator and the
    in-memory layer belong to the loop they started on)."""
    return async_to_sync(scenario)()


def opened(communicator):
    async def scenario():
        connected, _ = await communicator.connect()
        if connected:
            await communicator.disconnect()
        return connected

    return run(scenario)


def test_a_new_inbox_message_reaches_its_recipients_page_only(layer):
    bob, carol = socket(external_client(BOB), "inbox"), socket(external_client(CAROL), "inbox")

    async def scenario():
        assert (await bob.connect())[0]
        assert (await carol.connect())[0]
        await sync_to_async(to_portal)(BOB)
        assert await bob.receive_json_from() == {"changed": "inbox"}
        assert await carol.receive_nothing(0.5)
        await bob.disconnect()
        await carol.disconnect()

    run(scenario)


def test_a_quarantine_change_reaches_internal_pages(layer):
    manager = socket(internal_client("manager@corp.test"), "quarantine")

    def hold():
        message = spooled_message("alice@corp.test", (BOB,))
        QuarantinedMessage.objects.create(message=message, sender="alice@corp.test", expires_at=timezone.now())

    async def scenario():
        assert (await manager.connect())[0]
        await sync_to_async(hold)()
        assert await manager.receive_json_from() == {"changed": "quarantine"}
        await manager.disconnect()

    run(scenario)


def test_external_recipients_cannot_listen_to_the_quarantine(layer):
    assert not opened(socket(external_client(BOB), "quarantine"))


def test_a_socket_without_login_is_refused(layer):
    anonymous = WebsocketCommunicator(application, "/ws/live/inbox/", headers=[(b"origin", b"http://localhost")])
    assert not opened(anonymous)


def test_a_socket_without_the_second_factor_is_refused(layer):
    client = external_client(BOB)
    session = client.session
    session.pop("otp_device_id")
    session.save()
    assert not opened(socket(client, "inbox"))


def test_a_socket_from_another_site_is_refused(layer):
    assert not opened(socket(external_client(BOB), "inbox", origin="https://evil.example"))


def test_a_socket_of_a_session_logged_out_everywhere_is_refused(layer):
    from portal.models import SessionToken

    client = external_client(BOB)
    SessionToken.objects.get(user__username=BOB).rotate()
    assert not opened(socket(client, "inbox"))
