"""Encrypted PDF through the pipeline, as the worker runs it on spooled rows:
an outgoing recipient without a certificate gets a cover message with an
encrypted PDF; the password goes out by SMS (file backend, Twilio fake) or
to the sender; a password that cannot be delivered holds the message and
the sender is told; the password never reaches the trail or the logs."""

import email
import email.policy
import json
import logging
import re

import pytest
from django.core.cache import cache

from ca.sealing import unseal
from gateway import worker
from gateway.models import Delivery, Domain, Message, Recipient, TrailEntry
from gateway.pdf_secret_model import PdfSecret
from gateway.pdfmail import one_time_password
from gateway.policy import service
from gateway.reply_links import ReplyLinkExpired, read_reply_token, reply_token
from tests.pdfmail.readers import pdftotext, qpdf_check
from tests.support.spooled import mail_bytes, spooled_message
from tests.support.twilio_fake import ACCOUNT_SID, AUTH_TOKEN, TwilioFake

SENDER = "alice@corp.test"
BOB = "bob@partner.test"
CAROL = "carol@partner.test"
BOB_PHONE = "+31612345678"
BODY = "The merger closes on Friday; keep it quiet.\r\n"

State = Message.State


@pytest.fixture(autouse=True)
def setup(db, settings, tmp_path, monkeypatch):
    """corp.test is ours; partner.test gets PDF. SMS go to files in tmp_path;
    the worker's rings are dropped (the test drives it)."""
    settings.LOCKPOST_SMS_BACKEND = "portal.sms.backends.filebased.SmsBackend"
    settings.LOCKPOST_SMS_FILE_PATH = str(tmp_path / "sms")
    settings.LOCKPOST_SMS_RATE_LIMIT = 0
    cache.clear()
    monkeypatch.setattr("gateway.doorbell.ring", lambda *a: None)
    monkeypatch.setattr("gateway.doorbell.ring_delivery", lambda *a: None)
    Domain.objects.create(name="corp.test", internal=True)
    partner = Domain.objects.create(name="partner.test")
    service.set_setting(service.Scope(domain=partner), "pdf_enabled", True)


def set_for(address, key, value):
    service.set_setting(service.user_scope(address), key, value)


def send(rcpts=(BOB,), subject="Merger", body=BODY):
    data = mail_bytes(SENDER, to=rcpts, subject=subject, body=body)
    message = spooled_message(SENDER, rcpts, data=data)
    return worker.process(message.pk), message


def pdf_of(content):
    mail = email.message_from_bytes(content, policy=email.policy.default)
    [pdf] = [p for p in mail.iter_attachments() if p.get_content_type() == "application/pdf"]
    return mail, pdf.get_content()


def sms_files(tmp_path):
    folder = tmp_path / "sms"
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))] if folder.exists() else []


def password_in(sms):
    return re.search(r": (\S+)$", sms["body"]).group(1)


def save(tmp_path, data, name="message.pdf"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def notices_to_sender():
    return [
        bytes(m.raw.data)
        for m in Message.objects.filter(mail_from__startswith="postmaster@", recipients__address=SENDER)
    ]


def test_recipient_without_certificate_gets_a_cover_with_a_pdf_the_sms_password_opens(tmp_path):
    set_for(BOB, "phone_number", BOB_PHONE)

    state, message = send()

    assert state == State.DELIVERING
    [delivery] = Delivery.objects.filter(message=message)
    assert delivery.treatment.startswith("pdf:en:generated:sms:aes256")
    cover, pdf = pdf_of(bytes(delivery.content))
    assert cover["Subject"] == "Merger"
    assert cover["From"] == SENDER
    assert "text message" in cover.get_body(("plain",)).get_content()
    assert BODY.strip().encode() not in pdf  # nothing in clear
    [sms] = sms_files(tmp_path)
    assert sms["to"] == BOB_PHONE
    password = password_in(sms)
    path = save(tmp_path, pdf)
    assert qpdf_check(path, password).returncode == 0
    assert qpdf_check(path, None).returncode != 0
    assert qpdf_check(path, password + "x").returncode != 0
    text = pdftotext(path, password)
    assert text.returncode == 0
    assert "The merger closes on Friday" in text.stdout.decode()
    shown = qpdf_show_encryption(path, password)
    assert b"R = 6" in shown
    assert b"file encryption method: AESv3" in shown
    trail = " ".join(message.trail.values_list("text", flat=True))
    assert "AES-256" in trail
    assert "by SMS to +316" in trail


def qpdf_show_encryption(path, password):
    from tests.pdfmail.readers import run

    return run("qpdf", f"--password={password}", "--show-encryption", str(path)).stdout


def test_aes_128_when_the_setting_says_so(tmp_path):
    set_for(BOB, "phone_number", BOB_PHONE)
    set_for(BOB, "pdf_aes", "128")

    _, message = send()

    [delivery] = message.deliveries.all()
    _, pdf = pdf_of(bytes(delivery.content))
    shown = qpdf_show_encryption(save(tmp_path, pdf), password_in(sms_files(tmp_path)[0]))
    assert b"R = 4" in shown
    assert b"AESv2" in shown


def test_sender_delivery_mails_the_sender_each_recipients_password(tmp_path):
    service.set_setting(service.domain_scope("corp.test"), "pdf_password_delivery", "sender")

    state, message = send(rcpts=(BOB, CAROL))

    assert state == State.DELIVERING
    deliveries = {d.recipients.get().address: d for d in message.deliveries.all()}
    assert sorted(deliveries) == [BOB, CAROL]  # personal passwords: a PDF each
    assert sms_files(tmp_path) == []
    [notice] = notices_to_sender()
    text = email.message_from_bytes(notice, policy=email.policy.default).get_body(("plain",)).get_content()
    for address, delivery in deliveries.items():
        password = re.search(rf"{re.escape(address)}: (\S+)", text).group(1)
        cover, pdf = pdf_of(bytes(delivery.content))
        assert "The sender has your password" in cover.get_body(("plain",)).get_content()
        assert qpdf_check(save(tmp_path, pdf, f"{address}.pdf"), password).returncode == 0


def test_no_phone_number_holds_the_message_and_tells_the_sender(tmp_path):
    state, message = send()

    assert state == State.HELD
    message.refresh_from_db()
    assert message.state == State.HELD
    assert not Delivery.objects.filter(message=message).exists()
    assert set(message.recipients.values_list("state", flat=True)) == {Recipient.State.HELD}
    assert sms_files(tmp_path) == []
    [notice] = notices_to_sender()
    text = email.message_from_bytes(notice, policy=email.policy.default).get_body(("plain",)).get_content()
    assert "NOT been sent" in text
    assert BOB in text
    assert "no mobile number" in text
    assert "could not be delivered" in " ".join(message.trail.values_list("text", flat=True))


@pytest.fixture
def twilio(settings):
    """SMS through the Twilio backend, pointed at the loopback fake."""
    with TwilioFake() as fake:
        settings.LOCKPOST_SMS_BACKEND = "portal.sms.backends.twilio.SmsBackend"
        settings.LOCKPOST_TWILIO_ACCOUNT_SID = ACCOUNT_SID
        settings.LOCKPOST_TWILIO_AUTH_TOKEN = AUTH_TOKEN
        settings.LOCKPOST_TWILIO_API_ROOT = fake.api_root
        settings.LOCKPOST_SMS_FROM = "+15005550006"
        yield fake


def test_sms_refused_by_twilio_holds_the_message_and_tells_the_sender(twilio):
    set_for(BOB, "phone_number", BOB_PHONE)
    twilio.fail_next(400, code=21211, message="The 'To' number is not valid.")

    state, message = send()

    assert state == State.HELD
    assert not message.deliveries.exists()
    assert [r.form["To"] for r in twilio.requests] == [[BOB_PHONE]]
    assert twilio.messages == []
    [notice] = notices_to_sender()
    assert b"the SMS failed" in notice
    assert BOB.encode() in notice


def test_password_through_twilio(twilio, tmp_path, caplog):
    set_for(BOB, "phone_number", BOB_PHONE)
    caplog.set_level(logging.DEBUG)

    state, message = send()

    assert state == State.DELIVERING
    [sent] = twilio.messages
    assert sent["to"] == BOB_PHONE
    password = password_in(sent)
    assert "twilio.http_client" in {r.name for r in caplog.records}
    assert password not in "\n".join(r.getMessage() for r in caplog.records)
    _, pdf = pdf_of(bytes(message.deliveries.get().content))
    assert qpdf_check(save(tmp_path, pdf), password).returncode == 0


def test_subject_trigger_sets_the_phone_and_is_removed(tmp_path):
    state, message = send(subject="Contract draft [sms:+31 6 2345 6789]")

    assert state == State.DELIVERING
    [sms] = sms_files(tmp_path)
    assert sms["to"] == "+31623456789"
    cover, pdf = pdf_of(bytes(message.deliveries.get().content))
    assert cover["Subject"] == "Contract draft"
    text = pdftotext(save(tmp_path, pdf), password_in(sms)).stdout.decode()
    assert "Contract draft" in text
    assert "sms:" not in text


def test_the_password_is_never_in_the_trail_or_the_logs(tmp_path, caplog):
    set_for(BOB, "phone_number", BOB_PHONE)
    caplog.set_level(logging.DEBUG)

    send()

    password = password_in(sms_files(tmp_path)[0])
    assert len(password) == 12
    logged = "\n".join(r.getMessage() + repr(r.args) for r in caplog.records)
    assert "PDF for bob@partner.test" in logged  # the handler did log
    assert password not in logged
    trail = json.dumps([(t.text, t.data) for t in TrailEntry.objects.all()])
    assert "by SMS" in trail
    assert password not in trail
    assert not Delivery.objects.filter(treatment__contains=password).exists()


def test_a_static_password_is_agreed_not_sent_and_shared_without_reply_links(tmp_path):
    scope = service.domain_scope("partner.test")
    service.set_setting(scope, "pdf_password_mode", "static")
    service.set_setting(scope, "pdf_static_password", "Correct-Horse-42")
    service.set_setting(scope, "pdf_reply_enabled", False)

    state, message = send(rcpts=(BOB, CAROL))

    assert state == State.DELIVERING
    [delivery] = message.deliveries.all()  # one shared PDF
    assert "Correct-Horse-42" not in delivery.treatment
    cover, pdf = pdf_of(bytes(delivery.content))
    assert "agreed with the sender" in cover.get_body(("plain",)).get_content()
    assert qpdf_check(save(tmp_path, pdf), "Correct-Horse-42").returncode == 0
    assert sms_files(tmp_path) == []
    assert notices_to_sender() == []


def test_a_kept_password_is_reused_and_stored_sealed(tmp_path):
    set_for(BOB, "phone_number", BOB_PHONE)
    set_for(BOB, "pdf_password_validity_days", 30)

    send()
    send()

    first, second = (password_in(s) for s in sms_files_by_time(tmp_path))
    assert first == second
    row = PdfSecret.objects.get(address=BOB, kind=PdfSecret.Kind.KEPT_PASSWORD)
    assert first.encode() not in bytes(row.sealed)


def sms_files_by_time(tmp_path):
    paths = sorted((tmp_path / "sms").glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
    return [json.loads(p.read_text()) for p in paths]


def test_a_one_time_password_derives_from_the_recipients_secret_and_the_message(settings, tmp_path):
    set_for(BOB, "phone_number", BOB_PHONE)
    set_for(BOB, "pdf_password_mode", "one_time")

    _, message = send()

    row = PdfSecret.objects.get(address=BOB, kind=PdfSecret.Kind.OTP_SECRET)
    secret = unseal(row.sealed, settings.LOCKPOST_MASTER_KEY, "pdf-otp-secret")
    assert password_in(sms_files(tmp_path)[0]) == one_time_password(secret, message.queue_id, 12)


def test_pdf_mode_never_and_internal_recipients_get_no_pdf(tmp_path):
    set_for(BOB, "pdf_mode", "never")

    state, message = send(rcpts=(BOB, "dave@corp.test"))

    assert state == State.DELIVERING
    assert not message.deliveries.filter(treatment__startswith="pdf:").exists()
    assert sms_files(tmp_path) == []


def test_reply_token_names_message_sender_recipient_and_expires():
    token = reply_token("ABC123", SENDER, BOB, days=1, now=1_000_000)
    assert read_reply_token(token, now=1_000_000 + 3600) == {"q": "ABC123", "s": SENDER, "r": BOB,
                                                               "exp": 1_000_000 + 86400}  # fmt: skip
    with pytest.raises(ReplyLinkExpired):
        read_reply_token(token, now=1_000_000 + 86401)
    with pytest.raises(Exception, match="Signature"):
        read_reply_token(token[:5] + ("A" if token[5] != "A" else "B") + token[6:], now=1_000_000)


def test_fallback_skips_a_recipient_with_a_usable_certificate_and_always_does_not(settings, tmp_path):
    from ca import store
    from tests.support import pki

    root = pki.make("Root", ca=True, slot=1)
    store.add_certificate(root.der, trust_anchor=True)
    store.add_certificate(pki.make("Bob", root, email=BOB).der)
    set_for(BOB, "phone_number", BOB_PHONE)
    # pdf_decide on its own: the S/MIME decider, when in the pipeline, would
    # claim a recipient with a certificate first.
    settings.LOCKPOST_PIPELINE = [h for h in settings.LOCKPOST_PIPELINE if ".smime_" not in h]

    _, fallback = send()
    set_for(BOB, "pdf_mode", "always")
    _, always = send()

    assert not fallback.deliveries.filter(treatment__startswith="pdf:").exists()
    assert always.deliveries.get().treatment.startswith("pdf:")
    assert len(sms_files(tmp_path)) == 1


def test_a_domain_has_its_own_cover_text(tmp_path):
    scope = service.domain_scope("partner.test")
    service.set_setting(scope, "pdf_cover_text", "Dear partner, {{ sender }} sent {{ filename }} ({{ password_via }}).")
    set_for(BOB, "phone_number", BOB_PHONE)

    _, message = send()

    cover, _ = pdf_of(bytes(message.deliveries.get().content))
    assert cover.get_body(("plain",)).get_content().strip() == f"Dear partner, {SENDER} sent message.pdf (sms)."
    # The HTML part was not overridden: the built-in one.
    assert "text message" in cover.get_body(("html",)).get_content()


def claim_for_smime(ctx):
    """Stands in for the S/MIME decider: claims every outgoing recipient."""
    for rcpt in ctx.recipients:
        if rcpt.direction == "outgoing":
            rcpt.treatment = "smime:test"


def test_a_recipient_an_earlier_decider_claimed_is_left_alone(settings, tmp_path):
    set_for(BOB, "phone_number", BOB_PHONE)
    set_for(BOB, "pdf_mode", "always")
    steps = [h for h in settings.LOCKPOST_PIPELINE if ".smime_" not in h]
    steps.insert(steps.index("gateway.handlers.pdf_decide.decide_pdf"), f"{__name__}.claim_for_smime")
    settings.LOCKPOST_PIPELINE = steps

    state, message = send()

    assert state == State.DELIVERING
    assert message.deliveries.get().treatment == "smime:test"
    assert sms_files(tmp_path) == []
