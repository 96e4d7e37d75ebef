"""Browser journeys in Debian's Chromium: replying from a PDF's Reply link;
reading a secure inbox message, its attachment, and replying; a manager
releasing a quarantined message while another manager's open list updates
live over a websocket (uvicorn serving the ASGI app). A screenshot of every
page goes to test-artifacts/screenshots/."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from dlp.models import QuarantinedMessage, Rule
from gateway import worker
from gateway.models import Domain, Message, Setting
from gateway.reply_links import reply_token
from tests.portal.inbox_helpers import ALICE, BOB, external_client, internal_client, portal_partner, to_portal
from tests.portal.test_browser import browser, page, shot  # noqa: F401 - fixtures
from tests.support.spooled import mail_bytes, spooled_message

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def quiet_doorbell(monkeypatch):
    monkeypatch.setattr("gateway.doorbell.ring", lambda *a: None)
    monkeypatch.setattr("gateway.doorbell.ring_delivery", lambda *a: None)


def logged_in_as(context, client, url):
    """Hand a test client's session to the browser."""
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
    context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": url}])


def test_reply_from_a_pdf_link(live_server, page):  # noqa: F811
    Domain.objects.create(name="corp.test", internal=True)
    message = spooled_message(ALICE, (BOB,), data=mail_bytes(ALICE, to=(BOB,), subject="Contract draft"))
    Message.objects.filter(pk=message.pk).update(subject="Contract draft")
    token = reply_token(message.queue_id, ALICE, BOB, 30)

    page.goto(f"{live_server.url}/reply/{token}/")
    assert page.locator("h1").inner_text() == "Reply"
    assert "Contract draft" in page.locator("dl.facts").inner_text()
    page.get_by_label("Your message").fill("Signed and attached.")
    page.get_by_label("Attachments").set_input_files(
        files=[{"name": "signed.txt", "mimeType": "text/plain", "buffer": b"signed"}]
    )
    shot(page, "reply-1-form")
    page.get_by_role("button", name="Send reply").click()
    page.wait_for_selector("text=Reply sent")
    shot(page, "reply-2-sent")
    [reply] = Message.objects.filter(mail_from=BOB)
    assert list(reply.recipients.values_list("address", flat=True)) == [ALICE]


def test_reading_a_secure_inbox_message_its_attachment_and_replying(live_server, page):  # noqa: F811
    portal_partner()
    _, item = to_portal()
    logged_in_as(page.context, external_client(BOB), live_server.url)

    page.goto(f"{live_server.url}/portal/inbox/")
    shot(page, "inbox-1-list")
    page.get_by_role("link", name="Quarterly figures").click()
    page.wait_for_url(f"**/portal/inbox/{item.pk}/")
    frame = page.frame_locator("iframe.message-frame")
    assert "Secret-word: tangerine" in frame.locator("body").inner_text()
    # The embedded logo shows (a data: image); the remote tracker was removed.
    assert frame.locator("img[alt=logo]").evaluate("img => img.naturalWidth") == 1
    assert frame.locator("img[alt=tracker][src]").count() == 0
    shot(page, "inbox-2-message")

    with page.expect_download() as download:
        page.get_by_role("link", name="figures.csv").click()
    assert download.value.suggested_filename == "figures.csv"
    assert Path(download.value.path()).read_bytes() == b"a,b\r\n1,2\r\n"

    page.get_by_label("Your message").fill("Thanks, all clear.")
    page.get_by_role("button", name=f"Send reply to {ALICE}").click()
    page.wait_for_url("**/portal/inbox/")
    assert f"Your reply to {ALICE} is on its way." in page.content()
    shot(page, "inbox-3-replied")
    [reply] = Message.objects.filter(mail_from=BOB)
    assert list(reply.recipients.values_list("address", flat=True)) == [ALICE]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def asgi_server():
    """uvicorn serving the ASGI app (websockets too) against the test database."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("postgresql"):
        host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
        url = f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{host}/{db['NAME']}"
    else:
        url = f"sqlite:///{db['NAME']}"
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "lockpost.settings",
        "DATABASE_URL": url,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOCKPOST_INSECURE_DEV_SECRET": "1",
        "LOCKPOST_MASTER_KEY": django_settings.LOCKPOST_MASTER_KEY,
        "LOCKPOST_CHANNELS_REDIS_URL": "",
        "LOCKPOST_REDIS_URL": "",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "tests.portal.live_asgi:application", "--host", "127.0.0.1",
         "--port", str(port), "--no-access-log", "--ws", "websockets"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if server.poll() is not None:
                pytest.fail("uvicorn exited: " + server.stdout.read().decode(errors="replace")[-2000:])
            time.sleep(0.2)
    yield f"http://127.0.0.1:{port}"
    server.terminate()
    server.wait(10)


def test_a_manager_releases_and_another_managers_list_updates_live(asgi_server, browser):  # noqa: F811
    corp = Domain.objects.create(name="corp.test", internal=True)
    Setting.objects.create(key="dlp_managers", value="dpo@corp.test, deputy@corp.test", domain=corp)
    Rule.objects.create(name="cards", kind="detector", detector="credit_card", action="quarantine")
    data = mail_bytes(ALICE, to=("dave@else.test",), subject="Invoice", body="Card 5500 0000 0000 0004\r\n")
    message = spooled_message(ALICE, ("dave@else.test",), data=data)
    Message.objects.filter(pk=message.pk).update(subject="Invoice")
    assert worker.process(message.pk) == Message.State.HELD
    row = QuarantinedMessage.objects.get(message=message)

    watching, acting = browser.new_context(locale="en-GB"), browser.new_context(locale="en-GB")
    logged_in_as(watching, internal_client("deputy@corp.test"), asgi_server)
    logged_in_as(acting, internal_client("dpo@corp.test"), asgi_server)
    watcher, manager = watching.new_page(), acting.new_page()
    refused = []
    watcher.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)

    watcher.goto(f"{asgi_server}/quarantine/")
    watcher.wait_for_selector("#live-list[data-connected=yes]", timeout=10000)  # the websocket is open
    assert "Invoice" in watcher.locator("#live-list").inner_text()
    shot(watcher, "quarantine-1-watching")

    manager.goto(f"{asgi_server}/quarantine/")
    manager.get_by_role("link", name="Invoice").click()
    manager.wait_for_url(f"**/quarantine/{row.pk}/")
    assert "5500 **** **** 0004" in manager.content()
    shot(manager, "quarantine-2-detail")
    manager.get_by_role("button", name="Release").click()
    manager.wait_for_url("**/quarantine/")
    assert "The message was released" in manager.content()
    shot(manager, "quarantine-3-released")

    # The other manager's page, never reloaded, no longer lists it.
    watcher.wait_for_selector("#live-list[data-updated]", timeout=10000)
    assert "Invoice" not in watcher.locator("#live-list").inner_text()
    assert "No messages here." in watcher.locator("#live-list").inner_text()
    shot(watcher, "quarantine-4-updated-live")
    assert refused == []
    row.refresh_from_db()
    assert row.status == "released"
    watching.close()
    acting.close()
