"""Browser journeys in Debian's Chromium (Playwright): activating an account
with the SMS code, and picking up a certificate whose PKCS#12 file then opens
with the password from the SMS. A screenshot of every page goes to
test-artifacts/screenshots/."""

import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import pkcs12

from ca import authority
from portal import accounts, pickup
from portal.models import ExternalAccount, PickupDownload

from .conftest import code_in, last_sms, link_in, mails_to, with_phone

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PASSWORD = "correct horse battery 42"


@pytest.fixture(scope="module")
def browser():
    # Playwright's sync API runs an event loop in this thread; the test's own
    # ORM calls are still plain synchronous code.
    mp = pytest.MonkeyPatch()
    mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (scripts/install-debian-packages)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()
    mp.undo()


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="en-GB", accept_downloads=True)
    page = context.new_page()
    yield page
    context.close()


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_activation_with_the_sms_code(live_server, page, sms_dir, browser):
    with_phone("bob@example.org")
    accounts.invite("bob@example.org", reason="secure reply")
    path = link_in(mails_to("bob@example.org")[-1], "/portal/activate/")

    page.goto(live_server.url + path)
    assert page.locator("h1").inner_text() == "Activate your account"
    shot(page, "activation-1-password")
    page.get_by_label("New password:", exact=True).fill(PASSWORD)
    page.get_by_label("New password confirmation:", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()

    page.wait_for_url("**/code/")
    assert "We sent a 6-digit code by SMS" in page.content()
    shot(page, "activation-2-code")
    code = code_in(last_sms(sms_dir)["body"])
    page.get_by_label("Code:", exact=True).fill(code)
    page.get_by_role("button", name="Continue").click()

    page.wait_for_url(live_server.url + "/portal/")
    assert "You are logged in as bob@example.org." in page.content()
    assert "Your account is active." in page.content()
    shot(page, "activation-3-home")
    assert ExternalAccount.objects.get().activated_at

    # The same page in a narrow window: still usable, nothing cut off.
    narrow = browser.new_context(viewport={"width": 360, "height": 740}, locale="nl-NL")
    small = narrow.new_page()
    small.goto(live_server.url + "/portal/login/")
    assert small.evaluate("document.documentElement.scrollWidth") <= 360
    assert small.locator("html").get_attribute("lang") == "nl"
    shot(small, "login-narrow-nl")
    narrow.close()

    # Keyboard: the first Tab lands on the skip link, which is visible then.
    page.goto(live_server.url + "/portal/security/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    shot(page, "security-skip-link-focused")


def test_certificate_pickup_opens_with_the_sms_password(live_server, page, sms_dir, tmp_path):
    authority.create_root("Browser Test Root", key_type="p256")
    with_phone("bob@example.org")
    pickup.offer(authority.issue("bob@example.org", key_type="p256"))
    path = link_in(mails_to("bob@example.org")[-1], "/portal/pickup/")
    password = last_sms(sms_dir)["body"].rsplit(": ", 1)[1]

    page.goto(live_server.url + path)
    assert page.locator("h1").inner_text() == "Your certificate"
    page.get_by_text("Thunderbird").click()  # open the instructions
    shot(page, "pickup-1-page")

    with page.expect_download() as modern:
        page.get_by_role("link", name="Download certificate").click()
    modern_file = tmp_path / modern.value.suggested_filename
    modern.value.save_as(modern_file)
    with page.expect_download() as legacy:
        page.get_by_role("link", name="Download for older programs").click()
    legacy_file = tmp_path / legacy.value.suggested_filename
    legacy.value.save_as(legacy_file)
    shot(page, "pickup-2-after-downloads")

    bundle = pkcs12.load_pkcs12(modern_file.read_bytes(), password.encode())
    assert "bob@example.org" in bundle.cert.certificate.subject.rfc4514_string()
    # OpenSSL reads the modern form as it is, and the legacy form with -legacy.
    for file, extra in ((modern_file, []), (legacy_file, ["-legacy"])):
        result = subprocess.run(
            ["openssl", "pkcs12", "-in", str(file), "-nokeys", "-passin", "env:P12_PASSWORD", *extra],
            capture_output=True,
            text=True,
            env={"P12_PASSWORD": password, "PATH": "/usr/bin:/bin"},
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "bob@example.org" in result.stdout
    assert sorted(PickupDownload.objects.values_list("form", flat=True)) == ["legacy", "modern"]


def test_internal_user_sets_up_an_authenticator_app(live_server, page):
    import base64

    from django.contrib.auth import get_user_model
    from django_otp.oath import totp

    get_user_model().objects.create_user("alice", "alice@corp.example", PASSWORD)
    page.goto(live_server.url + "/portal/login/")
    shot(page, "login")
    page.get_by_label("Username:").fill("alice")
    page.get_by_label("Password:").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(live_server.url + "/portal/")
    page.get_by_role("link", name="Security", exact=True).click()
    shot(page, "security")
    page.get_by_role("link", name="Set up an authenticator app").click()

    qr = page.get_by_role("img", name="QR code holding the key below")
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0")  # drawn, not blocked by the CSP
    shot(page, "totp-enrol")
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    page.get_by_label("Code:", exact=True).fill(f"{totp(key):06d}")
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/portal/security/")
    assert "Your authenticator app is set up." in page.content()
    shot(page, "totp-done")
