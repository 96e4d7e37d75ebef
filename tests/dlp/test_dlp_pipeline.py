"""DLP in the pipeline, as the worker runs it on spooled messages: rules
stored at three levels, every action (warn, force encryption, quarantine,
block), delay evaluation, unscannable content, and the quarantine's
release (exactly once), delete and expiry."""

import email
import email.policy
from datetime import timedelta

import pytest
from django.utils import timezone

from dlp import services
from dlp.models import Exemption, QuarantinedMessage, QuarantineEvent, Rule
from gateway import spool, worker
from gateway.delivery import output_bytes
from gateway.models import Delivery, Domain, MailUser, Message, RawMessage, Recipient
from gateway.policy import service
from tests.dlp import builders
from tests.support.spooled import mail_bytes, spooled_message

SENDER = "alice@corp.test"
BOB = "bob@partner.test"
MANAGER = "dlp-officer@corp.test"
CARD = "4111 1111 1111 1111"
MASKED = "4111 **** **** 1111"
BODY = f"Please charge card {CARD} for the order.\r\n"
State = Message.State


@pytest.fixture(autouse=True)
def world(db, monkeypatch):
    """corp.test is ours, with a DLP manager; a gateway rule quarantines card
    numbers. The test drives the worker itself."""
    monkeypatch.setattr("gateway.doorbell.ring", lambda *a: None)
    monkeypatch.setattr("gateway.doorbell.ring_delivery", lambda *a: None)
    corp = Domain.objects.create(name="corp.test", internal=True)
    Domain.objects.create(name="partner.test")
    service.set_setting(service.Scope(domain=corp), "dlp_managers", MANAGER)
    Rule.objects.create(name="cards", kind="detector", detector="credit_card", action="quarantine")
    return corp


def send(body=BODY, rcpts=(BOB,), subject="Order", data=None):
    data = data or mail_bytes(SENDER, to=rcpts, subject=subject, body=body)
    message = spooled_message(SENDER, rcpts, data=data)
    Message.objects.filter(pk=message.pk).update(subject=subject)  # as the spool reads it from the header
    return worker.process(message.pk), message


def set_for(level, key, value):
    scope = service.domain_scope(level) if "@" not in level else service.user_scope(level)
    service.set_setting(scope, key, value)


def notices(to):
    """DLP notices queued to `to`: null envelope sender, parsed."""
    found = Message.objects.filter(mail_from="", recipients__address=to).order_by("pk")
    return [
        email.message_from_bytes(bytes(RawMessage.objects.get(pk=m.pk).data), policy=email.policy.default)
        for m in found
    ]


def text_of(notice):
    return notice.get_body(("plain",)).get_content()


def trail_text(message):
    return "\n".join(message.trail.values_list("text", flat=True))


def all_recorded_text(message):
    """Everything the gateway wrote down about the message: trail text and data."""
    return "\n".join(f"{t.text} {t.data}" for t in message.trail.all())


# --- rules at three levels -----------------------------------------------------


def test_rules_inherit_from_gateway_to_domain_to_user_with_exemptions(world):
    Rule.objects.create(name="secrets", kind="keywords", keywords=["top secret"], action="block", exemptible=False)
    Rule.objects.create(name="falcon", kind="keywords", keywords=["project falcon"], action="warn", domain=world)
    alice = MailUser.objects.create(email=SENDER)
    Rule.objects.create(name="iban", kind="detector", detector="iban", action="warn", user=alice)
    Exemption.objects.create(rule_name="cards", user=alice)
    Exemption.objects.create(rule_name="secrets", domain=world)

    effective = services.rules_for(SENDER)

    assert sorted(r.name for r in effective.rules) == ["falcon", "iban", "secrets"]
    assert effective.origin["falcon"] == "domain corp.test"
    assert effective.exempted["cards"] == f"user {SENDER}"
    assert ("domain corp.test", "secrets") in [(lvl, name) for lvl, name, _ in effective.refused]
    # Someone else at corp.test still has the card rule; a partner address has only the gateway's.
    assert "cards" in [r.name for r in services.rules_for("carol@corp.test").rules]
    assert "falcon" not in [r.name for r in services.rules_for("x@partner.test").rules]


def test_an_exempted_user_sends_card_numbers(world):
    Exemption.objects.create(rule_name="cards", user=MailUser.objects.create(email=SENDER))

    state, message = send()

    assert state == State.DELIVERING
    assert message.deliveries.count() == 1
    assert not QuarantinedMessage.objects.exists()


def test_a_rule_the_engine_cannot_run_is_refused_when_saved(world):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="detector"):
        Rule.objects.create(name="bad", kind="detector", detector="no_such_detector")
    with pytest.raises(ValidationError):
        Rule.objects.create(name="bad", kind="regex", pattern="(unclosed")
    assert not Rule.objects.filter(name="bad").exists()


def test_a_disabled_rule_does_not_apply(world):
    Rule.objects.filter(name="cards").update(enabled=False)

    state, _ = send()

    assert state == State.DELIVERING


# --- quarantine ----------------------------------------------------------------


def test_card_number_is_quarantined_and_sender_and_manager_told_with_masked_evidence(world):
    state, message = send()

    assert state == State.HELD
    assert not message.deliveries.exists()
    assert set(message.recipients.values_list("state", flat=True)) == {Recipient.State.HELD}
    held = QuarantinedMessage.objects.get(message=message)
    assert held.status == "held"
    assert held.rules_hit == ["cards"]
    assert held.verdict["hits"][0]["evidence"][0]["masked"] == MASKED
    assert held.expires_at > timezone.now() + timedelta(days=29)
    [to_sender] = notices(SENDER)
    [to_manager] = notices(MANAGER)
    for notice in (to_sender, to_manager):
        body = text_of(notice)
        assert "cards" in body
        assert MASKED in body
        assert CARD not in body
        assert f"/quarantine/{held.pk}/" in body
        assert notice["Subject"] == "Held for review: Order"
    assert "Your message" in text_of(to_sender)
    # Notices run the system pipeline: delivered as written, never scanned or encrypted.
    assert set(Message.objects.filter(mail_from="").values_list("listener_profile", flat=True)) == {"system"}
    assert f"The message from {SENDER}" in text_of(to_manager)
    assert "verdict quarantine" in trail_text(message)
    assert MASKED in all_recorded_text(message)
    assert CARD not in all_recorded_text(message)
    assert RawMessage.objects.filter(pk=message.pk).exists()  # kept until released or deleted


def test_processing_a_held_message_again_neither_releases_nor_notifies_again(world):
    _, message = send()

    worker.requeue(message.pk, by="admin")
    assert worker.process(message.pk) == State.HELD

    assert not message.deliveries.exists()
    assert len(notices(SENDER)) == 1
    assert QuarantinedMessage.objects.count() == 1


def test_release_delivers_exactly_once(world):
    _, message = send()
    held = QuarantinedMessage.objects.get(message=message)

    services.release(held, by=MANAGER)
    assert worker.process(message.pk) == State.DELIVERING
    with pytest.raises(services.NotHeld):
        services.release(held, by=MANAGER)
    worker.requeue(message.pk, by="admin")
    worker.process(message.pk)

    [delivery] = message.deliveries.all()
    assert CARD.encode() in output_bytes(delivery)  # released as it was
    assert list(message.recipients.values_list("state", flat=True)) == [Recipient.State.PENDING]
    held.refresh_from_db()
    assert (held.status, held.decided_by) == ("released", MANAGER)
    assert list(held.events.values_list("what", "who")) == [("held", "gateway"), ("released", MANAGER)]
    assert f"released from the DLP quarantine by {MANAGER}" in trail_text(message)


def test_delete_drops_the_message_and_its_bytes(world):
    _, message = send()
    held = QuarantinedMessage.objects.get(message=message)

    services.delete(held, by=MANAGER)
    worker.requeue(message.pk, by="admin")
    worker.process(message.pk)

    message.refresh_from_db()
    assert message.state == State.BOUNCED
    assert not message.deliveries.exists()
    assert not RawMessage.objects.filter(pk=message.pk).exists()
    assert message.recipients.get().dsn_sent  # the sender was told when it was held: no bounce
    with pytest.raises(services.NotHeld):
        services.release(held, by=MANAGER)
    assert list(held.events.values_list("what", flat=True)) == ["held", "deleted"]


def test_expiry_deletes_held_messages_after_the_configured_days(world):
    set_for("corp.test", "dlp_quarantine_days", 3)
    _, old = send()
    _, fresh = send()
    QuarantinedMessage.objects.filter(message=old).update(created_at=timezone.now() - timedelta(days=4))
    assert QuarantinedMessage.objects.get(message=old).expires_at < timezone.now() + timedelta(days=3, minutes=1)

    from dlp.tasks import expire_quarantine

    assert expire_quarantine() == 0  # not yet
    assert services.expire(now=timezone.now() + timedelta(days=3, minutes=1)) == 2
    assert set(QuarantinedMessage.objects.values_list("status", flat=True)) == {"expired"}
    assert not RawMessage.objects.filter(pk__in=[old.pk, fresh.pk]).exists()


def test_expiry_is_on_beats_schedule(settings):
    assert "dlp.tasks.expire_quarantine" in [entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()]


def test_the_event_log_is_append_only(world):
    send()
    event = QuarantineEvent.objects.get()
    event.note = "changed"
    with pytest.raises(ValueError, match="never changed"):
        event.save()
    with pytest.raises(ValueError, match="never deleted"):
        event.delete()


# --- warn and block ------------------------------------------------------------


def test_warn_delivers_and_tells_sender_and_manager(world):
    Rule.objects.filter(name="cards").update(action="warn")

    state, message = send()

    assert state == State.DELIVERING
    assert message.deliveries.count() == 1
    [to_sender] = notices(SENDER)
    [to_manager] = notices(MANAGER)
    assert to_sender["Subject"] == "Warning: Order"
    assert MASKED in text_of(to_manager)
    assert "It was sent." in text_of(to_sender)
    assert not QuarantinedMessage.objects.exists()


def test_block_refuses_recipients_and_the_sender_gets_a_dsn_and_a_notice(world):
    Rule.objects.filter(name="cards").update(action="block")

    state, message = send()

    assert state == State.BOUNCED
    rcpt = message.recipients.get()
    assert rcpt.state == Recipient.State.BOUNCED
    assert rcpt.reply.startswith("550 5.7.1")
    assert "cards" in rcpt.reply
    assert rcpt.dsn_sent
    dsn = Message.objects.filter(mail_from="", recipients__address=SENDER).exclude(subject__startswith="Not sent")
    assert dsn.exists()  # the delivery status notification
    [notice] = [n for n in notices(SENDER) if n["Subject"] == "Not sent: Order"]
    assert MASKED in text_of(notice)
    assert not Delivery.objects.filter(message=message, state=Delivery.State.PENDING).exists()


def test_the_most_severe_action_wins(world):
    Rule.objects.create(name="falcon", kind="keywords", keywords=["project falcon"], action="block")

    state, message = send(body=f"Project Falcon: card {CARD}\r\n")

    assert state == State.BOUNCED
    assert sorted(h["rule"] for h in Message.objects.get(pk=message.pk).trail.get(text__startswith="verdict").data[
        "verdict"]["hits"]) == ["cards", "falcon"]  # fmt: skip


def test_german_notices_when_the_domain_says_so(world):
    set_for("corp.test", "dlp_language", "de")

    send()

    [notice] = notices(MANAGER)
    assert notice["Subject"] == "Zur Prüfung zurückgehalten: Order"
    assert "Getroffene Regeln" in text_of(notice)
    assert MASKED in text_of(notice)


def test_internal_mail_is_not_scanned(world):
    state, _ = send(rcpts=("carol@corp.test",))

    assert state == State.DELIVERING
    assert not notices(SENDER)


def test_dlp_off_for_a_domain_lets_mail_through(world):
    set_for("corp.test", "dlp_enabled", False)

    state, _ = send()

    assert state == State.DELIVERING


# --- unscannable ---------------------------------------------------------------


def zip_bomb_mail():
    msg = builders.attach(builders.message("See attached.", subject="Archive"), builders.zip_bomb(1), "data.zip")
    msg.replace_header("From", SENDER)
    msg.replace_header("To", BOB)
    return msg.as_bytes(policy=email.policy.SMTP)


def test_a_zip_bomb_gets_the_default_unscannable_action_quarantine(world):
    state, message = send(data=zip_bomb_mail(), subject="Archive")

    assert state == State.HELD
    held = QuarantinedMessage.objects.get(message=message)
    assert held.verdict["unscannable"]
    assert "could not be scanned" in text_of(notices(MANAGER)[0])


def test_a_zip_bomb_gets_the_configured_unscannable_action(world):
    set_for("corp.test", "dlp_unscannable_action", "block")

    state, message = send(data=zip_bomb_mail(), subject="Archive")

    assert state == State.BOUNCED
    assert message.recipients.get().reply.startswith("550 5.7.1")


# --- force encryption and delay evaluation -------------------------------------


def pdf_for_partner(mode="fallback"):
    """partner.test gets encrypted PDFs; the passwords are mailed to the sender (no SMS needed)."""
    set_for("partner.test", "pdf_enabled", True)
    set_for("partner.test", "pdf_mode", mode)
    set_for("corp.test", "pdf_password_delivery", "sender")


@pytest.fixture
def bob_has_a_certificate(world):
    from cryptography.hazmat.primitives.serialization import Encoding

    from ca.store import add_certificate
    from tests.smime import pki as smime_pki

    pki = smime_pki.build()
    cert = smime_pki._user(BOB, smime_pki._rsa(), pki.intermediate.certificate, pki.intermediate.key)
    add_certificate(pki.root.certificate.public_bytes(Encoding.DER), trust_anchor=True)
    add_certificate(pki.intermediate.certificate.public_bytes(Encoding.DER))
    add_certificate(cert.public_bytes(Encoding.DER))


def test_force_encryption_sends_s_mime_to_a_recipient_with_a_certificate(bob_has_a_certificate):
    Rule.objects.filter(name="cards").update(action="force_encrypt")
    set_for("corp.test", "encryption_mode", "allow")  # on its own: no encryption without a trigger
    set_for("corp.test", "signing_mode", "never")

    _, clean = send(body="Nothing to see.\r\n")
    state, message = send()

    assert clean.deliveries.get().treatment == "outgoing:allow"  # the control: sent as it was
    assert state == State.DELIVERING
    [delivery] = message.deliveries.all()
    assert delivery.treatment.startswith("smime:encrypt:")
    assert b"application/pkcs7-mime" in bytes(delivery.content)
    assert b"4111" not in bytes(delivery.content)
    [notice] = notices(SENDER)
    assert notice["Subject"] == "Sent encrypted: Order"
    assert MASKED in text_of(notices(MANAGER)[0])


def test_force_encryption_falls_back_to_an_encrypted_pdf_without_a_certificate(world):
    Rule.objects.filter(name="cards").update(action="force_encrypt")
    pdf_for_partner()
    set_for("corp.test", "encryption_fallback", "plain")  # on its own: sent in clear

    state, message = send()

    assert state == State.DELIVERING
    [delivery] = message.deliveries.all()
    assert delivery.treatment.startswith("pdf:")
    assert b"4111" not in bytes(delivery.content)
    assert "encryption forced: all 1 outgoing copies leave encrypted" in trail_text(message)


def test_force_encryption_quarantines_when_neither_s_mime_nor_pdf_is_possible(world):
    Rule.objects.filter(name="cards").update(action="force_encrypt")

    state, message = send()

    assert state == State.HELD
    assert not message.deliveries.exists()
    held = QuarantinedMessage.objects.get(message=message)
    assert held.status == "held"
    body = text_of(notices(MANAGER)[0])
    assert f"encryption not possible for {BOB}" in body
    assert MASKED in body


def test_delay_evaluation_lets_mail_that_leaves_encrypted_go_with_a_warning(world):
    set_for("corp.test", "dlp_delay_evaluation", True)
    pdf_for_partner(mode="always")

    state, message = send()

    assert state == State.DELIVERING
    assert message.deliveries.get().treatment.startswith("pdf:")
    assert not QuarantinedMessage.objects.exists()
    [notice] = [n for n in notices(MANAGER)]
    assert notice["Subject"] == "Warning: Order"
    assert "quarantine lowered" in text_of(notice)


def test_delay_evaluation_still_quarantines_mail_that_would_leave_in_clear(world):
    set_for("corp.test", "dlp_delay_evaluation", True)

    state, message = send()

    assert state == State.HELD
    assert QuarantinedMessage.objects.filter(message=message, status="held").exists()


def test_delayed_block_refuses_only_the_copies_in_clear(world):
    Rule.objects.filter(name="cards").update(action="block")
    set_for("corp.test", "dlp_delay_evaluation", True)
    pdf_for_partner(mode="always")
    dave = "dave@elsewhere.test"

    state, message = send(rcpts=(BOB, dave))

    assert state == State.DELIVERING
    bob, dave_row = message.recipients.order_by("position")
    assert bob.state == Recipient.State.PENDING
    assert bob.delivery.treatment.startswith("pdf:")
    assert dave_row.state == Recipient.State.BOUNCED
    assert dave_row.reply.startswith("550 5.7.1")


def test_notices_are_queued_once_per_message_even_if_it_is_processed_again(world):
    from dlp.notices import notify

    Rule.objects.filter(name="cards").update(action="warn")
    _, message = send()
    verdict = message.trail.get(text__startswith="verdict").data["verdict"]

    assert notify(message, "warn", verdict, queue=spool.store_notice, managers=[MANAGER]) == []  # found the first
    assert len(notices(SENDER)) == 1
    assert len(notices(MANAGER)) == 1


def test_dutch_notices(world):
    set_for("corp.test", "dlp_language", "nl")
    Rule.objects.filter(name="cards").update(action="block")

    send()

    [notice] = notices(MANAGER)
    assert notice["Subject"] == "Niet verzonden: Order"
    assert f"Het bericht van {SENDER}" in text_of(notice)
    assert MASKED in text_of(notice)
