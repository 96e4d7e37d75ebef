"""S/MIME through the pipeline as the worker runs it: what leaves for each
recipient is read by independent implementations (openssl cms, NSS cmsutil,
gpgsm), what comes in from real Outlook and Thunderbird is opened, and
broken or forged S/MIME never costs a message."""

import base64
import datetime
import email
import email.policy
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from ca import formats
from ca.models import Certificate
from ca.store import add_certificate, add_private_key, import_bundle
from gateway import pipeline, spool, worker
from gateway.delivery import output_bytes
from gateway.handlers import smime_incoming
from gateway.models import Domain, Message, Recipient, Setting
from gateway.smime import encrypt_message, sign_message
from tests.interop.peers import Gpgsm, Nss, OpenSSL, cms_of, detached_parts, good_gpgsm
from tests.interop.peers import run as run_tool
from tests.smime import pki as smime_pki
from tests.smime.pki import Holder

TESTDATA = Path(__file__).resolve().parents[2].parent / "shared" / "testdata"
REAL = TESTDATA / "real-clients"
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason=f"real-client samples not found at {REAL}")
SECRET = b"The merger closes on Friday."


def holder(pki, name, address, key=None):
    key = key or smime_pki._rsa()
    cert = smime_pki._user(address, key, pki.intermediate.certificate, pki.intermediate.key)
    return Holder(name, address, cert, key, (pki.intermediate.certificate, pki.root.certificate))


@pytest.fixture(scope="module")
def people():
    pki = smime_pki.build()
    return {
        "pki": pki,
        "alice": holder(pki, "alice", "alice@corp.test"),
        "bob": holder(pki, "bob", "bob@partner.test"),
        "bert": holder(pki, "bert", "bert@partner.test"),
        "erin": holder(pki, "erin", "erin@partner.test", ec.generate_private_key(ec.SECP256R1())),
    }


def der(cert):
    from cryptography.hazmat.primitives.serialization import Encoding

    return cert.public_bytes(Encoding.DER)


@pytest.fixture
def world(db, people):
    """corp.test is ours; Alice (corp) holds a key here; Bob, Bert and Erin
    (partner.test) have certificates; Dave has none."""
    Domain.objects.create(name="corp.test", internal=True)
    pki = people["pki"]
    add_certificate(der(pki.root.certificate), trust_anchor=True)
    add_certificate(der(pki.intermediate.certificate))
    cert, _ = add_certificate(der(people["alice"].certificate))
    add_private_key(cert, people["alice"].key)
    for name in ("bob", "bert", "erin"):
        add_certificate(der(people[name].certificate))
    return people


def mail(subject="Quarterly figures", to="bob@partner.test", extra=b"", sender="alice@corp.test"):
    return (
        f"From: Alice <{sender}>\r\nTo: {to}\r\nSubject: {subject}\r\n".encode()
        + b"Date: Sat, 28 Nov 2026 10:00:00 +0000\r\nMessage-ID: <m1@corp.test>\r\n"
        + extra
        + b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + SECRET
        + b"\r\n"
    )


def run(rcpts, data, mail_from="alice@corp.test", steps=None):
    ctx = pipeline.Context(
        queue_id="Q1",
        mail_from=mail_from,
        raw=data,
        recipients=[pipeline.RecipientInfo(address=a, position=n) for n, a in enumerate(rcpts)],
    )
    return pipeline.run(ctx, steps)


def copy_for(ctx, address):
    [group] = [g for g in ctx.groups if any(ctx.recipient(p).address == address for p in g.positions)]
    return ctx.content_for(group)


def trail(ctx):
    return "\n".join(n.text for n in ctx.trail)


def content_type(message):
    return email.message_from_bytes(message, policy=email.policy.default).get_content_type()


def setting(key, value):
    Setting.objects.create(key=key, value=value)


@pytest.fixture
def openssl(tmp_path, people):
    return OpenSSL(tmp_path / "openssl", people["pki"])


# --- outgoing ---------------------------------------------------------------


def test_external_recipient_with_a_certificate_gets_it_signed_and_encrypted(world, openssl):
    ctx = run(["bob@partner.test"], mail())
    out = copy_for(ctx, "bob@partner.test")
    assert content_type(out) == "application/pkcs7-mime"
    assert b"smime-type=enveloped-data" in out
    assert SECRET not in out
    inner = openssl.decrypt(out, world["bob"])
    # Signed inside, by Alice, with a chain OpenSSL trusts.
    assert SECRET in openssl.verify(b"Subject: x\r\n" + inner)
    # Encrypted to the sender too, so her copy stays readable.
    assert SECRET in openssl.verify(b"Subject: x\r\n" + openssl.decrypt(out, world["alice"]))
    text = trail(ctx)
    assert "bob@partner.test: certificate" in text
    assert "usable" in text
    assert "S/MIME signed and encrypted with aes256_cbc" in text
    assert [g.treatment for g in ctx.groups] == ["smime:sign+encrypt:aes256_cbc:rsa:rsaes_pkcs1v15"]


def test_nss_and_gpgsm_read_the_default_output(world, tmp_path):
    out = copy_for(run(["bob@partner.test"], mail()), "bob@partner.test")
    nss = Nss(tmp_path / "nss", world["pki"])
    nss.add_identity(world["bob"])
    content, signature = detached_parts(b"Subject: x\r\n" + nss.decrypt(cms_of(out)))
    assert nss.verify(signature, content)[0] == ["GoodSignature"]
    assert SECRET in content
    gpgsm = Gpgsm(world["pki"])
    try:
        gpgsm.add_identity(world["bob"])
        content, signature = detached_parts(b"Subject: x\r\n" + gpgsm.decrypt(cms_of(out)))
        assert good_gpgsm(gpgsm.verify(signature, content)[0])
    finally:
        gpgsm.close()


def test_no_certificate_if_possible_goes_signed_but_unencrypted_with_reasons(world, openssl, people):
    # Dave's only certificate has expired: the trail says so.
    expired = smime_pki._user(
        "dave@partner.test",
        smime_pki._rsa(),
        people["pki"].intermediate.certificate,
        people["pki"].intermediate.key,
        not_before=smime_pki.NOW - datetime.timedelta(days=400),
        not_after=smime_pki.NOW - datetime.timedelta(days=30),
    )
    add_certificate(der(expired))
    ctx = run(["dave@partner.test"], mail(to="dave@partner.test"))
    out = copy_for(ctx, "dave@partner.test")
    assert content_type(out) == "multipart/signed"
    assert SECRET in openssl.verify(out)
    text = trail(ctx)
    assert re.search(r"dave@partner.test: certificate .*expired on", text)
    assert "dave@partner.test: no usable certificate; sent without encryption" in text


def test_fallback_plain_with_signing_off_leaves_the_message_as_it_was(world):
    setting("signing_mode", "never")
    setting("encryption_fallback", "plain")
    original = mail(to="dave@partner.test")
    ctx = run(["dave@partner.test"], original)
    assert copy_for(ctx, "dave@partner.test").endswith(original)
    assert ctx.groups[0].treatment == "plain"


def test_mandatory_without_a_certificate_bounces_to_the_sender(world):
    setting("encryption_mode", "mandatory")
    message = spool.store("alice@corp.test", ["bob@partner.test", "dave@partner.test"],
                          mail(to="bob@partner.test, dave@partner.test"))  # fmt: skip
    worker.process(message.pk)
    dave = Recipient.objects.get(message=message, address="dave@partner.test")
    assert dave.state == Recipient.State.BOUNCED
    assert dave.reply.startswith("550 5.7.1 Encryption is required for <dave@partner.test>")
    assert dave.dsn_sent
    bob = Recipient.objects.get(message=message, address="bob@partner.test")
    assert bob.state == Recipient.State.PENDING
    assert bob.delivery.treatment.startswith("smime:sign+encrypt")
    [bounce] = Message.objects.filter(mail_from="", recipients__address="alice@corp.test")
    report = bytes(bounce.raw.data)
    assert b"Status: 5.7.1" in report
    assert b"Final-Recipient: rfc822; dave@partner.test" in report
    assert b"Remote-MTA" not in report  # refused here, not by another MTA
    assert bounce.listener_profile == "system"


def test_mandatory_with_pdf_enabled_leaves_it_to_the_pdf(world):
    setting("encryption_mode", "mandatory")
    setting("pdf_enabled", True)
    setting("pdf_password_delivery", "sender")
    ctx = run(["dave@partner.test"], mail(to="dave@partner.test"))
    assert ctx.groups[0].treatment.startswith("pdf:")
    assert not ctx.recipients[0].refusal


def test_subject_trigger_encrypts_and_leaves_the_subject(world, openssl):
    setting("encryption_mode", "allow")
    plain = run(["bob@partner.test"], mail())
    assert content_type(copy_for(plain, "bob@partner.test")) == "multipart/signed"
    ctx = run(["bob@partner.test"], mail(subject="[Encrypt] Quarterly figures"))
    out = copy_for(ctx, "bob@partner.test")
    assert content_type(out) == "application/pkcs7-mime"
    assert re.search(rb"^Subject: Quarterly figures\r\n", out, re.M)
    assert b"ncrypt]" not in out
    assert "subject trigger" in trail(ctx)


def test_header_trigger_encrypts_and_is_removed(world, openssl):
    setting("encryption_mode", "allow")
    ctx = run(["bob@partner.test"], mail(extra=b"X-Lockpost-Encrypt: yes\r\n"))
    out = copy_for(ctx, "bob@partner.test")
    assert content_type(out) == "application/pkcs7-mime"
    assert b"X-Lockpost-Encrypt" not in out
    assert b"X-Lockpost-Encrypt" not in openssl.decrypt(out, world["bob"])


def test_trigger_without_certificate_is_mandatory(world):
    setting("encryption_mode", "allow")
    message = spool.store("alice@corp.test", ["dave@partner.test"], mail(subject="[encrypt] x", to="dave@partner.test"))
    worker.process(message.pk)
    assert Recipient.objects.get(message=message).state == Recipient.State.BOUNCED


def test_ec_and_rsa_recipients_get_separate_outputs(world, openssl):
    to = "bob@partner.test, bert@partner.test, erin@partner.test"
    ctx = run(["bob@partner.test", "bert@partner.test", "erin@partner.test"], mail(to=to))
    assert len(ctx.groups) == 2
    shared = copy_for(ctx, "bob@partner.test")
    # One output for both RSA recipients:
    [rsa_group] = [g for g in ctx.groups if {ctx.recipient(p).address for p in g.positions} >= {"bob@partner.test"}]
    assert {ctx.recipient(p).address for p in rsa_group.positions} == {"bob@partner.test", "bert@partner.test"}
    for name in ("bob", "bert"):
        assert SECRET in openssl.decrypt(shared, world[name])
    ec_copy = copy_for(ctx, "erin@partner.test")
    assert SECRET in openssl.decrypt(ec_copy, world["erin"])
    with pytest.raises(AssertionError):
        openssl.decrypt(ec_copy, world["bob"])
    with pytest.raises(AssertionError):
        openssl.decrypt(shared, world["erin"])


def test_header_protection_hides_the_subject_outside(world, openssl):
    setting("header_protection", True)
    ctx = run(["bob@partner.test"], mail())
    out = copy_for(ctx, "bob@partner.test")
    assert re.search(rb"^Subject: \[\.\.\.\]\r\n", out, re.M)
    inner = openssl.decrypt(out, world["bob"])
    signed = openssl.verify(b"Subject: x\r\n" + inner)
    assert b"Subject: Quarterly figures" in signed
    assert b'hp="cipher"' in signed
    assert b"HP-Outer: Subject: [...]" in signed


def test_oaep_for_a_partner_domain_that_asks_for_it(world, openssl):
    Domain.objects.create(name="partner.test")
    Setting.objects.create(key="key_transport", value="rsa-oaep", domain=Domain.objects.get(name="partner.test"))
    ctx = run(["bob@partner.test"], mail())
    assert ctx.groups[0].treatment.endswith(":rsaes_oaep")
    out = copy_for(ctx, "bob@partner.test")
    assert SECRET in openssl.decrypt(out, world["bob"])
    cms = run_tool(["openssl", "cms", "-cmsout", "-print", "-inform", "DER"], input=cms_of(out)).stdout
    assert b"rsaesOaep" in cms


# --- incoming ---------------------------------------------------------------


@pytest.fixture
def smime2(db, monkeypatch):
    """smime-2's PKCS#12 imported, the samples' root trusted, and signatures
    judged at a time inside the 2024 certificates' validity."""
    certs = REAL / "certs"
    bundle = formats.read_bundle((certs / "smime-2-secret.pfx").read_bytes(), "smime2")
    import_bundle(bundle)
    add_certificate(formats.read_bundle((certs / "ca_smime.crt").read_bytes()).certificates[0], trust_anchor=True)
    monkeypatch.setattr(smime_incoming, "validation_time", lambda: datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC))


def samples(kind):
    folder = REAL / "received-at-smime2"
    return sorted(p for p in folder.glob(f"*({kind}).eml")) if folder.is_dir() else []


def incoming(data):
    ctx = run(["smime2@hmailserver.test"], data, mail_from="smime1@hmailserver.test")
    return ctx, copy_for(ctx, "smime2@hmailserver.test")


def info(out):
    head = out.split(b"\r\n\r\n", 1)[0]
    found = email.message_from_bytes(head + b"\r\n\r\n", policy=email.policy.default)
    return {k[len("X-Lockpost-Info-") :]: str(v).strip() for k, v in found.items() if k.startswith("X-Lockpost-Info-")}


@needs_real
@pytest.mark.parametrize("path", samples("encrypted") + samples("signed and encrypted"), ids=lambda p: p.name)
def test_real_client_encrypted_mail_is_decrypted(smime2, path):
    _ctx, out = incoming(path.read_bytes())
    headers = info(out)
    assert headers["Encryption"].startswith("decrypted; aes")
    assert "smime-2" in headers["Decryption-Key"] or "smime2" in headers["Decryption-Key"]
    assert content_type(out) != "application/pkcs7-mime"
    if "signed" in path.name:
        assert headers["Signature"] == "valid"
        assert headers["Signer-Trusted"] == "yes"
        assert "smime1@hmailserver.test" in headers["Signer"]


@needs_real
@pytest.mark.parametrize("path", samples("signed"), ids=lambda p: p.name)
def test_real_client_signatures_verify_and_the_certificate_is_harvested(smime2, path):
    _ctx, out = incoming(path.read_bytes())
    headers = info(out)
    assert headers["Signature"] == "valid", headers
    assert headers["Signer-Trusted"] == "yes", headers
    assert "smime1@hmailserver.test" in headers["Signer"]
    original = path.read_bytes()
    assert out.endswith(re.split(rb"\r?\n\r?\n", original, maxsplit=1)[1])  # the signed body untouched
    harvested = Certificate.objects.filter(emails__email="smime1@hmailserver.test", source="harvested")
    assert harvested.exists()


@needs_real
def test_remove_signature_takes_off_a_valid_signature_layer(smime2):
    setting("remove_signature", True)
    [path] = [p for p in samples("signed") if p.name.startswith("Writing")]
    _ctx, out = incoming(path.read_bytes())
    assert content_type(out) != "multipart/signed"
    assert info(out)["Signature-Removed"] == "yes"


@pytest.fixture
def to_bob_inside(db, people):
    """bob@corp.test is ours and his key is held here; Eve outside writes to him."""
    Domain.objects.create(name="corp.test", internal=True)
    pki = people["pki"]
    add_certificate(der(pki.root.certificate), trust_anchor=True)
    add_certificate(der(pki.intermediate.certificate))
    bob = holder(pki, "bob-in", "bob@corp.test")
    cert, _ = add_certificate(der(bob.certificate))
    add_private_key(cert, bob.key)
    eve = holder(pki, "eve", "eve@outside.test")
    return bob, eve


def from_eve(data):
    ctx = run(["bob@corp.test"], data, mail_from="eve@outside.test")
    return ctx, copy_for(ctx, "bob@corp.test")


MESSAGE = (
    b"From: eve@outside.test\r\nTo: bob@corp.test\r\nSubject: hi\r\nContent-Type: text/plain\r\n\r\n" + SECRET + b"\r\n"
)


def test_incoming_mail_to_a_key_we_hold_is_decrypted_and_verified(to_bob_inside):
    bob, eve = to_bob_inside
    sent = encrypt_message(sign_message(MESSAGE, eve.identity), [bob.certificate])
    _ctx, out = from_eve(sent)
    assert SECRET in out
    headers = info(out)
    assert headers["Encryption"] == "decrypted; aes256_cbc; rsaes_pkcs1v15"
    assert headers["Signature"] == "valid"
    assert headers["Signer-Trusted"] == "yes"
    assert Certificate.objects.filter(emails__email="eve@outside.test", source="harvested").exists()


def body_of(message):
    return message.split(b"\r\n\r\n", 1)[1]


@pytest.mark.parametrize("damage", ["tampered", "truncated", "garbage"])
def test_broken_cms_is_delivered_unchanged_with_a_verdict(to_bob_inside, damage):
    bob, eve = to_bob_inside
    signed = sign_message(MESSAGE, eve.identity)
    encrypted = encrypt_message(MESSAGE, [bob.certificate])
    if damage == "tampered":
        sent = signed.replace(b"merger closes", b"merger failed")
    elif damage == "truncated":
        body = body_of(encrypted)
        sent = encrypted[: len(encrypted) - len(body)] + body[: len(body) // 2]
    else:
        sent = encrypted[: len(encrypted) - len(body_of(encrypted))] + base64.encodebytes(b"\x30\x82garbage" * 40)
    _ctx, out = from_eve(sent)
    assert out.endswith(sent)  # never lost, never mangled
    headers = info(out)
    if damage == "tampered":
        assert headers["Signature"].startswith("invalid: message digest mismatch")
    else:
        assert headers["Encryption"].startswith("not decrypted: ")
        assert headers["Decryption-Key"] == "no key"


def test_mail_for_a_key_we_do_not_hold_passes_with_no_key(to_bob_inside, people):
    _bob, eve = to_bob_inside
    sent = encrypt_message(MESSAGE, [eve.certificate])
    _ctx, out = from_eve(sent)
    assert out.endswith(sent)
    assert info(out)["Decryption-Key"] == "no key"
    assert info(out)["Encryption"].startswith("not decrypted: no key")


def test_strict_decryption_uses_only_the_recipients_own_key(to_bob_inside, people):
    bob, _eve = to_bob_inside
    carl = holder(people["pki"], "carl", "carl@corp.test")
    sent = encrypt_message(MESSAGE, [bob.certificate])
    ctx = run(["bob@corp.test", "carl@corp.test"], sent, mail_from="eve@outside.test")
    assert SECRET in copy_for(ctx, "bob@corp.test")
    assert copy_for(ctx, "carl@corp.test").endswith(sent)  # Bob's key never opens Carl's copy
    assert carl.email == "carl@corp.test"


def test_forged_info_headers_are_removed(to_bob_inside):
    forged = b"X-Lockpost-Info-Signature: valid\r\nX-Lockpost-Info-Signer-Trusted: yes\r\n" + MESSAGE
    _ctx, out = from_eve(forged)
    assert b"X-Lockpost-Info" not in out
    assert out.endswith(MESSAGE)


def test_wrong_key_in_the_message_is_no_key_and_never_dropped_through_the_worker(to_bob_inside):
    _bob, eve = to_bob_inside
    sent = encrypt_message(MESSAGE, [eve.certificate])
    message = spool.store("eve@outside.test", ["bob@corp.test"], sent)
    worker.process(message.pk)
    recipient = Recipient.objects.get(message=message)
    assert recipient.state == Recipient.State.PENDING
    assert output_bytes(recipient.delivery).endswith(sent)


# --- the scanner flows ------------------------------------------------------


def test_decrypt_only_profile_decrypts_and_does_nothing_else(to_bob_inside):
    bob, eve = to_bob_inside
    sent = encrypt_message(sign_message(MESSAGE, eve.identity), [bob.certificate])
    ctx = run(["bob@corp.test"], sent, mail_from="eve@outside.test", steps=pipeline.handlers("decrypt-only"))
    out = copy_for(ctx, "bob@corp.test")
    assert SECRET in out
    assert content_type(out) == "multipart/signed"
    assert info(out)["Signature"] == "valid"


def test_outgoing_mail_the_sender_encrypted_is_reencrypted_for_the_recipient(world, openssl):
    setting("decrypt_outgoing", True)
    # Alice's client encrypted it to Bob and herself; the gateway holds her key.
    sent = encrypt_message(mail(), [world["bob"].certificate, world["alice"].certificate])
    decrypt_only = run(["bob@partner.test"], sent, steps=pipeline.handlers("decrypt-only"))
    scanned = copy_for(decrypt_only, "bob@partner.test")
    assert SECRET in scanned
    assert b"X-Lockpost-Reencrypt: yes" in scanned
    # Back from the scanner into the main listener: encrypted again, mandatory.
    ctx = run(["bob@partner.test"], scanned)
    out = copy_for(ctx, "bob@partner.test")
    assert SECRET not in out
    assert b"X-Lockpost-Reencrypt" not in out
    assert SECRET in openssl.verify(b"Subject: x\r\n" + openssl.decrypt(out, world["bob"]))
    # And in one pass, without a scanner, the same.
    one_pass = copy_for(run(["bob@partner.test"], sent), "bob@partner.test")
    assert SECRET in openssl.decrypt(one_pass, world["bob"])
