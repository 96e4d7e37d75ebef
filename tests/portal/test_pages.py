"""Every portal page: a strict Content-Security-Policy, nothing inline,
nothing from other sites, CSRF on every form, and the browser's language."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from ca import authority
from portal import accounts, pickup

from .conftest import with_phone

pytestmark = pytest.mark.django_db

PASSWORD = "a long and good passphrase 7"


def check_page(response):
    assert response.status_code in (200, 404, 429), response.status_code
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    html = response.content.decode()
    assert "<script" not in html  # no script at all, inline or not
    assert "<style" not in html
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"""(?:src|href|action)=["']?(?:https?:)?//""", html), "asset from another site"
    assert '<main id="main"' in html
    assert 'href="#main"' in html  # skip link
    assert re.search(r'<html lang="(en|nl|de)">', html)
    for form in re.findall(r"<form[^>]*method=\"post\".*?</form>", html, re.S):
        assert "csrfmiddlewaretoken" in form
    return html


@pytest.fixture
def every_page(sms_dir):
    """(name, response) for each portal page, visited as a user would."""
    pages = []
    internal = get_user_model().objects.create_user("alice", "alice@corp.example", PASSWORD)
    client = Client()
    pages.append(("login", client.get("/portal/login/")))
    client.post("/portal/login/", {"username": "alice", "password": PASSWORD})
    pages.append(("home", client.get("/portal/")))
    pages.append(("security", client.get("/portal/security/")))
    pages.append(("totp", client.get("/portal/security/totp/")))
    assert internal.is_active

    with_phone("bob@example.org")
    account = accounts.invite("bob@example.org")
    token = accounts.activation_token(account)
    external = Client()
    pages.append(("activate", external.get(f"/portal/activate/{token}/")))
    external.post(f"/portal/activate/{token}/", {"new_password1": PASSWORD, "new_password2": PASSWORD})
    pages.append(("activate code", external.get(f"/portal/activate/{token}/code/")))
    pages.append(("invalid link", external.get("/portal/activate/nonsense/")))

    get_user_model().objects.filter(pk=account.user_id).update(is_active=True)
    login = Client()
    login.post("/portal/login/", {"username": "bob@example.org", "password": PASSWORD})
    pages.append(("login code", login.get("/portal/login/code/")))

    authority.create_root("Pages Test Root", key_type="p256")
    offered = pickup.offer(authority.issue("bob@example.org", key_type="p256"))
    pages.append(("pickup", Client().get(f"/portal/pickup/{pickup.pickup_token(offered)}/")))

    locked = Client()
    for _ in range(10):
        last = locked.post("/portal/login/", {"username": "alice", "password": "wrong"})
    pages.append(("locked out", last))
    return pages


def test_every_page_has_a_strict_csp_and_nothing_inline(every_page):
    assert len(every_page) == 10
    for name, response in every_page:
        try:
            check_page(response)
        except AssertionError as error:
            raise AssertionError(f"page {name}: {error}") from error


def test_static_css_is_served_from_this_site(client):
    html = client.get("/portal/login/").content.decode()
    (href,) = re.findall(r'<link rel="stylesheet" href="([^"]+)"', html)
    assert href.startswith("/static/")


def test_admin_pages_send_the_csp_too(client):
    assert "default-src 'self'" in client.get("/admin/login/")["Content-Security-Policy"]


def test_login_without_csrf_token_refused():
    get_user_model().objects.create_user("alice", "alice@corp.example", PASSWORD)
    client = Client(enforce_csrf_checks=True)
    answer = client.post("/portal/login/", {"username": "alice", "password": PASSWORD})
    assert answer.status_code == 403
    assert "_auth_user_id" not in client.session


def test_forms_without_csrf_token_refused(sms_dir):
    with_phone("bob@example.org")
    token = accounts.activation_token(accounts.invite("bob@example.org"))
    client = Client(enforce_csrf_checks=True)
    answer = client.post(f"/portal/activate/{token}/", {"new_password1": PASSWORD, "new_password2": PASSWORD})
    assert answer.status_code == 403
    logged = Client(enforce_csrf_checks=True)
    logged.force_login(get_user_model().objects.create_user("alice", "a@corp.example", PASSWORD))
    assert logged.post("/portal/logout/everywhere/").status_code == 403
    assert logged.post("/portal/logout/").status_code == 403
    assert logged.post("/portal/security/totp/", {"code": "123456"}).status_code == 403


@pytest.mark.parametrize(
    ("accept", "lang", "heading"),
    [
        ("nl-NL,nl;q=0.9,en;q=0.5", "nl", "Deze link werkt niet"),
        ("de-DE,de;q=0.9", "de", "Dieser Link funktioniert nicht"),
        ("fr-FR", "en", "This link does not work"),
    ],
)
def test_language_from_the_browser(client, accept, lang, heading):
    html = client.get("/portal/activate/nonsense/", headers={"accept-language": accept}).content.decode()
    assert f'<html lang="{lang}">' in html
    assert f"<h1>{heading}</h1>" in html


def test_activation_mail_in_the_recipients_language(sms_dir, django_capture_on_commit_callbacks):
    from gateway.models import MailUser, Setting

    from .conftest import mails_to

    user = MailUser.objects.create(email="hans@example.de")
    Setting.objects.create(key="pdf_language", value="de", user=user)
    with django_capture_on_commit_callbacks(execute=True):
        accounts.invite("hans@example.de")
    (mail,) = mails_to("hans@example.de")
    assert mail["Subject"] == "Ihr sicheres Lockpost-Konto"
    assert "Öffnen Sie diesen Link" in mail.get_body(("plain",)).get_content()
