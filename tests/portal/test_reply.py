"""Replying from a PDF's Reply link: the page names the message answered,
the reply travels portal -> spool -> pipeline -> SMTP to the original sender
only; the link cannot be altered, used after expiry, or used beyond its
limit; the author's rate is limited; CSRF and the CSP hold."""

import email
import email.policy
import logging
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from gateway import delivery, worker
from gateway.models import Domain, MailUser, Message, Setting
from gateway.reply_links import reply_token
from portal.models import SentReply
from tests.support.spooled import mail_bytes, spooled_message

pytestmark = pytest.mark.django_db

ALICE, BOB, MALLORY = "alice@corp.test", "bob@partner.test", "mallory@evil.test"


@pytest.fixture(autouse=True)
def world(monkeypatch):
    # The test decides when the worker runs.
    monkeypatch.setattr("gateway.doorbell.ring", lambda *a: None)
    monkeypatch.setattr("gateway.doorbell.ring_delivery", lambda *a: None)
    Domain.objects.create(name="corp.test", internal=True)


def original(subject="Contract draft"):
    data = mail_bytes(ALICE, to=(BOB,), subject=subject, body="Please sign.\r\n")
    message = spooled_message(ALICE, (BOB,), data=data)
    Message.objects.filter(pk=message.pk).update(subject=subject)
    message.refresh_from_db()
    return message, email.message_from_bytes(data, policy=email.policy.default)["Message-ID"]


def link(message, recipient=BOB, days=30, now=None):
    return f"/reply/{reply_token(message.queue_id, ALICE, recipient, days, now=now)}/"


def replies():
    return list(Message.objects.filter(mail_from=BOB))


def test_the_page_names_the_message_answered_under_a_strict_csp(client):
    message, _ = original()
    page = client.get(link(message))
    assert page.status_code == 200
    assert "Contract draft" in page.text
    assert ALICE in page.text
    assert "Your reply goes to" in page.text
    assert "csrfmiddlewaretoken" in page.text
    csp = page["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp


def test_the_reply_reaches_the_original_sender_only_through_the_pipeline(client, settings, smtp_sink):
    settings.LOCKPOST_NEXT_HOP = smtp_sink.address
    message, message_id = original()
    sent = client.post(
        link(message),
        {
            "text": "Signed, see attached.",
            # Extra fields naming other addresses are ignored: no open relay.
            "to": MALLORY,
            "cc": MALLORY,
            "attachments": [SimpleUploadedFile("signed.pdf", b"%PDF-1.4 signed", content_type="application/pdf")],
        },
    )
    assert sent.status_code == 200
    assert "Reply sent" in sent.text

    [reply] = replies()
    assert list(reply.recipients.values_list("address", flat=True)) == [ALICE]
    assert worker.process(reply.pk) == Message.State.DELIVERING
    for row in reply.deliveries.all():
        delivery.deliver(row.pk)

    [mail] = smtp_sink.wait_for(1, timeout=10)
    assert mail.mail_from == BOB
    assert mail.rcpt_tos == [ALICE]
    parsed = email.message_from_bytes(mail.data, policy=email.policy.default)
    assert parsed["From"] == BOB
    assert parsed["To"] == ALICE
    assert parsed["Subject"] == "Re: Contract draft"
    assert parsed["In-Reply-To"] == message_id
    assert message_id in parsed["References"]
    assert parsed.get_body(("plain",)).get_content().strip() == "Signed, see attached."
    [attachment] = list(parsed.iter_attachments())
    assert attachment.get_filename() == "signed.pdf"
    assert attachment.get_content() == b"%PDF-1.4 signed"
    assert MALLORY.encode() not in mail.data
    time.sleep(0.2)
    assert len(smtp_sink.received) == 1


def test_a_tampered_token_is_refused(client):
    message, _ = original()
    good = link(message)
    token = good.split("/")[2]
    # Change one character of the payload, then of the signature.
    for i in (5, len(token) - 3):
        bad = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]
        page = client.get(f"/reply/{bad}/")
        assert page.status_code == 404
        assert "This link does not work" in page.text
    assert client.post(f"/reply/{token[:-2]}/", {"text": "hi"}).status_code == 404
    assert replies() == []


def test_an_expired_token_is_refused(client):
    message, _ = original()
    page = client.post(link(message, days=1, now=time.time() - 2 * 86400), {"text": "too late"})
    assert page.status_code == 404
    assert replies() == []


def test_a_token_naming_someone_not_among_the_recipients_is_refused(client):
    # Signed, but for a message that never went to Mallory.
    message, _ = original()
    assert client.post(link(message, recipient=MALLORY), {"text": "hi"}).status_code == 404
    assert replies() == []


def test_the_link_is_used_up_after_its_limit(client):
    Setting.objects.create(key="pdf_reply_limit", value="2", user=MailUser.objects.get_or_create(email=ALICE)[0])
    message, _ = original()
    url = link(message)
    assert "2 more replies" in client.get(url).text
    assert client.post(url, {"text": "one"}).status_code == 200
    assert "1 more reply" in client.get(url).text
    assert client.post(url, {"text": "two"}).status_code == 200
    replayed = client.post(url, {"text": "three"})
    assert replayed.status_code == 410
    assert "No more replies" in replayed.text
    assert len(replies()) == 2
    assert SentReply.objects.filter(author=BOB, via="pdf").count() == 2


def test_the_authors_rate_is_limited(client, settings):
    settings.LOCKPOST_REPLY_RATE = 2
    urls = [link(original(f"Subject {n}")[0]) for n in range(3)]
    assert client.post(urls[0], {"text": "a"}).status_code == 200
    assert client.post(urls[1], {"text": "b"}).status_code == 200
    refused = client.post(urls[2], {"text": "c"})
    assert refused.status_code == 429
    assert "too many messages" in refused.text
    assert len(replies()) == 2


def test_attachments_over_the_size_limit_are_refused(client, settings):
    settings.LOCKPOST_REPLY_MAX_BYTES = 1024
    message, _ = original()
    page = client.post(link(message), {"text": "big", "attachments": [SimpleUploadedFile("big.bin", b"x" * 2048)]})
    assert page.status_code == 200
    assert "too large" in page.text
    assert replies() == []


def test_a_post_without_the_csrf_token_is_refused():
    message, _ = original()
    strict = Client(enforce_csrf_checks=True)
    assert strict.post(link(message), {"text": "forged"}).status_code == 403
    assert replies() == []


def test_the_token_never_reaches_a_log_line(client, settings, capsys):
    from logging.config import dictConfig

    dictConfig(settings.LOGGING)  # the project's handlers, with their filters
    settings.LOCKPOST_REPLY_RATE = 0
    message, _ = original()
    url = link(message)
    token = url.split("/")[2]
    client.post(url, {"text": "refused by the rate"})  # a 429: Django logs the path
    client.get(f"/reply/{token}x/")  # a 404 too
    logging.getLogger("portal").info("reply page %s", url)
    err = capsys.readouterr().err
    assert "/reply/…/" in err
    assert token not in err
    assert token[:20] not in err
