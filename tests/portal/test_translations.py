"""The portal in Dutch and German: every catalogue is complete (no empty or
fuzzy entry, placeholders kept, the compiled .mo matches its .po), and the
reply, inbox and quarantine pages, their messages and the mails they queue
come out in the language asked for."""

import ast
import email
import email.policy
import gettext
import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.utils import translation

from ca import authority
from dlp.models import QuarantinedMessage, Rule
from gateway import worker
from gateway.models import Domain, MailUser, Message, Setting
from gateway.reply_links import reply_token
from portal import compose, pickup, services
from tests.portal.inbox_helpers import ALICE, BOB, external_client, internal_client, portal_partner, to_portal
from tests.support.spooled import mail_bytes, spooled_message

from .conftest import mails_to

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
CATALOGUES = [
    ROOT / app / "locale" / lang / "LC_MESSAGES" / "django.po"
    for app in ("frontend", "portal", "dlp")
    for lang in ("nl", "de")
]
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


# --- the catalogues ---------------------------------------------------------


def entries(path):
    """The entries of a .po file, the header first, without obsolete (#~)
    ones: (flags, fields) with fields such as msgid, msgid_plural, msgstr,
    msgstr[0], their continuation lines joined."""
    found = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        flags, fields, key = set(), {}, None
        for line in block.splitlines():
            if line.startswith("#,"):
                flags.update(flag.strip() for flag in line[2:].split(","))
            elif line.startswith('"'):
                fields[key] += ast.literal_eval(line)
            elif line and not line.startswith("#"):
                key, value = line.split(" ", 1)
                fields[key] = ast.literal_eval(value)
        if "msgid" in fields:
            found.append((flags, fields))
    return found


def translations(fields):
    return [value for key, value in fields.items() if key.startswith("msgstr")]


@pytest.mark.parametrize("path", CATALOGUES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_catalogue_is_complete(path):
    (header_flags, header), *messages = entries(path)
    assert header["msgid"] == ""
    assert "fuzzy" not in header_flags
    assert f"Language: {path.parts[-3]}\n" in header["msgstr"]
    assert messages
    for flags, fields in messages:
        msgid = fields["msgid"]
        assert "fuzzy" not in flags, f"fuzzy: {msgid!r}"
        texts = translations(fields)
        assert texts, f"no msgstr: {msgid!r}"
        assert all(texts), f"not translated: {msgid!r}"
        for text in texts:
            assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(msgid)), f"{msgid!r} -> {text!r}"


@pytest.mark.parametrize("path", CATALOGUES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_compiled_catalogue_matches_its_source(path):
    with path.with_suffix(".mo").open("rb") as compiled:
        catalogue = gettext.GNUTranslations(compiled)
    for _, fields in entries(path)[1:]:
        if "msgid_plural" in fields:
            one, many = (catalogue.ngettext(fields["msgid"], fields["msgid_plural"], n) for n in (1, 5))
            assert (one, many) == (fields["msgstr[0]"], fields["msgstr[1]"]), "run compilemessages"
        else:
            assert catalogue.gettext(fields["msgid"]) == fields["msgstr"], "run compilemessages"


@pytest.mark.parametrize("language", ["nl", "de"])
def test_our_translations_win_over_other_apps(language):
    # The admin, sessions and others translate "Log out", "Home", "History"
    # their own way; the pages must show ours.
    differ = []
    with translation.override(language):
        for path in CATALOGUES:
            if path.parts[-3] != language:
                continue
            for _, fields in entries(path)[1:]:
                if "msgid_plural" not in fields and translation.gettext(fields["msgid"]) != fields["msgstr"]:
                    differ.append((fields["msgid"], translation.gettext(fields["msgid"]), fields["msgstr"]))
    assert differ == []


# --- the pages --------------------------------------------------------------

# page -> language -> texts that must appear.
EXPECTED = {
    "reply": {
        "nl": [
            "Antwoorden",
            "Uw antwoord gaat alleen naar",
            "Onderwerp",
            "Uw bericht",
            "Bijlagen",
            "U kunt via deze link nog",
            "Antwoord versturen",
            "Naar de inhoud",
        ],
        "de": [
            "Antworten",
            "Ihre Antwort geht nur an",
            "Betreff",
            "Ihre Nachricht",
            "Anhänge",
            "Sie können über diesen Link noch",
            "Antwort senden",
            "Zum Inhalt springen",
        ],
    },
    "inbox": {
        "nl": ["Postvak IN", "Ontvangen", "Onderwerp", "Beschikbaar tot", "nieuw", "Uitloggen"],
        "de": ["Posteingang", "Empfangen", "Betreff", "Verfügbar bis", "neu", "Abmelden"],
    },
    "quarantine": {
        "nl": ["Quarantaine", "Vastgehouden", "Vrijgegeven", "Verwijderd", "Regels", "vastgehouden"],
        "de": ["Quarantäne", "Zurückgehalten", "Freigegeben", "Gelöscht", "Regeln", "zurückgehalten"],
    },
    "quarantine_detail": {
        "nl": ["Wat er is gevonden", "Vrijgeven", "Verwijderen", "Downloaden", "Geschiedenis", "bekeken"],
        "de": ["Was gefunden wurde", "Freigeben", "Löschen", "Herunterladen", "Verlauf", "angesehen"],
    },
}
# English that must be gone (as it stands in the markup, to not match data).
ENGLISH = {
    "reply": [">Reply<", "Your reply goes to", ">Subject<", "Your message", ">Attachments<", "more repl", "Send reply"],
    "inbox": [">Inbox<", ">Received<", ">Subject<", "Available until", ">new<", "Log out"],
    "quarantine": [">Quarantine<", ">Held<", ">Released<", ">Rules<", ">held<", "Skip to content"],
    "quarantine_detail": ["What was found", ">Release<", ">Delete<", ">Download<", ">History<", ": viewed"],
}
LANGUAGES = {"nl": "nl-NL,nl;q=0.9,en;q=0.5", "de": "de-DE,de;q=0.9,en;q=0.5"}
TOO_MANY = {"nl": "U hebt te veel berichten verstuurd", "de": "Sie haben zu viele Nachrichten gesendet"}
NOT_HELD = {
    "nl": "Er is niets gedaan: het bericht is al vrijgegeven.",
    "de": "Es wurde nichts getan: Die Nachricht ist bereits freigegeben.",
}


def assert_in_language(html, page, language):
    assert f'<html lang="{language}">' in html
    for text in EXPECTED[page][language]:
        assert text in html, f"{text!r} missing from the {page} page in {language}"
    for text in ENGLISH[page]:
        assert text not in html, f"{text!r} left in English on the {page} page in {language}"


@pytest.fixture(autouse=True)
def world(monkeypatch):
    # The test decides when the worker runs.
    monkeypatch.setattr("gateway.doorbell.ring", lambda *a: None)
    monkeypatch.setattr("gateway.doorbell.ring_delivery", lambda *a: None)
    portal_partner()  # corp.test internal, partner.test reads in the portal


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_reply_page(client, language):
    data = mail_bytes(ALICE, to=("eve@elsewhere.test",), subject="Contract draft", body="Please sign.\r\n")
    message = spooled_message(ALICE, ("eve@elsewhere.test",), data=data)
    token = reply_token(message.queue_id, ALICE, "eve@elsewhere.test", 30)
    page = client.get(f"/reply/{token}/", headers={"accept-language": LANGUAGES[language]})
    assert page.status_code == 200
    assert_in_language(page.text, "reply", language)


def too_many(*args, **kwargs):
    raise compose.TooManyReplies


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_inbox(monkeypatch, language):
    _, item = to_portal()
    bob = external_client(BOB, headers={"accept-language": LANGUAGES[language]})
    page = bob.get("/portal/inbox/")
    assert page.status_code == 200
    assert "Quarterly figures" in page.text
    assert_in_language(page.text, "inbox", language)
    # A message that cannot be sent says so in the same language.
    monkeypatch.setattr(services, "reply", too_many)
    refused = bob.post(f"/portal/inbox/{item.pk}/", {"text": "Thanks"})
    assert refused.status_code == 200
    assert TOO_MANY[language] in refused.text


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_quarantine(language):
    corp = Domain.objects.get(name="corp.test")
    Setting.objects.create(key="dlp_managers", value="dpo@corp.test", domain=corp)
    Rule.objects.create(name="cards", kind="detector", detector="credit_card", action="quarantine")
    data = mail_bytes(ALICE, to=(BOB,), subject="Invoice", body="Card 5500 0000 0000 0004\r\n")
    message = spooled_message(ALICE, (BOB,), data=data)
    assert worker.process(message.pk) == Message.State.HELD
    row = QuarantinedMessage.objects.get(message=message)
    manager = internal_client("dpo@corp.test", headers={"accept-language": LANGUAGES[language]})

    listing = manager.get("/quarantine/")
    assert listing.status_code == 200
    assert "cards" in listing.text
    assert_in_language(listing.text, "quarantine", language)
    detail = manager.get(f"/quarantine/{row.pk}/")  # the history shows this view
    assert_in_language(detail.text, "quarantine_detail", language)

    manager.post(f"/quarantine/{row.pk}/release/")
    again = manager.post(f"/quarantine/{row.pk}/release/", follow=True)
    assert NOT_HELD[language] in again.text


# --- the mails --------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "subject", "text"),
    [
        ("nl", f"Beveiligd bericht van {ALICE}", "Lees het in uw beveiligde postvak:"),
        ("de", f"Sichere Nachricht von {ALICE}", "Lesen Sie sie in Ihrem sicheren Posteingang:"),
    ],
)
def test_the_inbox_notice(language, subject, text):
    _, item = to_portal()
    notice = email.message_from_bytes(services.notification(item, language), policy=email.policy.default)
    assert notice["Subject"] == subject
    assert text in notice.get_body(("plain",)).get_content()


def test_the_issuer_gets_the_certificate_password_in_their_language(django_capture_on_commit_callbacks):
    authority.create_root("Translations Test Root", key_type="p256")
    issuer = get_user_model().objects.create_user("ca-admin", "ca-admin@corp.test", "x", is_staff=True)
    Setting.objects.create(key="pdf_language", value="nl", user=MailUser.objects.create(email="ca-admin@corp.test"))
    with django_capture_on_commit_callbacks(execute=True):
        pickup.offer(authority.issue("dave@example.org", key_type="p256"), issued_by_user=issuer)
    (notice,) = mails_to("ca-admin@corp.test")
    assert notice["Subject"] == "Wachtwoord voor het certificaat van dave@example.org"
    assert "Het certificaat voor dave@example.org staat klaar" in notice.get_body(("plain",)).get_content()
