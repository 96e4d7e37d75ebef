"""Shared by the secure inbox tests: a message that goes to the portal, and
portal sessions of external and internal users without the login pages."""

import email.policy
from email.message import EmailMessage
from email.utils import make_msgid

from django.contrib.auth import get_user_model
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY

from gateway import delivery, worker
from gateway.models import Domain, Message, Setting
from portal import accounts
from portal.models import InboxMessage
from tests.support.spooled import spooled_message

ALICE, BOB, CAROL = "alice@corp.test", "bob@partner.test", "carol@partner.test"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def portal_partner():
    """corp.test is ours; partner.test gets its mail in the secure inbox."""
    Domain.objects.get_or_create(name="corp.test", defaults={"internal": True})
    partner, _ = Domain.objects.get_or_create(name="partner.test")
    Setting.objects.get_or_create(key="secure_delivery", domain=partner, defaults={"value": "portal"})
    return partner


def rich_mail(to=BOB, subject="Quarterly figures", sender=ALICE):
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="corp.test")
    message.set_content("The figures are attached. Secret-word: tangerine.")
    cid = make_msgid(domain="corp.test")
    message.add_alternative(
        "<p>The <b>figures</b> are attached. Secret-word: tangerine.</p>"
        f'<img alt="logo" src="cid:{cid[1:-1]}">'
        '<img alt="tracker" src="https://tracker.example/pixel.gif">'
        '<script>alert(1)</script><a href="javascript:alert(2)" onclick="alert(3)">click</a>',
        subtype="html",
    )
    message.get_payload()[1].add_related(PNG, "image", "png", cid=cid)
    message.add_attachment(b"a,b\r\n1,2\r\n", maintype="text", subtype="csv", filename="figures.csv")
    return message.as_bytes()


def deliver_all(message):
    for row in message.deliveries.all():
        delivery.deliver(row.pk)


def to_portal(to=BOB, subject="Quarterly figures", sender=ALICE):
    """Spool a message for `to`, run the pipeline; returns (message, inbox item)."""
    data = rich_mail(to, subject, sender)
    message = spooled_message(sender, (to,), data=data)
    assert worker.process(message.pk) == Message.State.DELIVERING
    return message, InboxMessage.objects.get(queue_id=message.queue_id, recipient__email=to)


def external_client(address, **client_options):
    """A browser of an external recipient whose account is active, logged
    in with their second factor (the login pages have their own tests)."""
    account = accounts.invite(address, reason="test")
    accounts.choose_password(account, "correct horse battery 42")
    accounts.finish_activation(account)
    account.user.refresh_from_db()
    client = Client(**client_options)
    client.force_login(account.user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = accounts.sms_device(account.user).persistent_id
    session.save()
    return client


def internal_client(address, staff=False, **client_options):
    user = get_user_model().objects.create_user(address, address, "pw", is_staff=staff)
    client = Client(**client_options)
    client.force_login(user)
    return client
