"""Portal accounts for external recipients.

    from portal.accounts import invite
    account = invite("bob@example.org", reason="certificate pickup")

creates the account the first time (an inactive Django user named after the
address, linked to its gateway.MailUser) and queues an activation email with
a signed link that expires after LOCKPOST_ACTIVATION_MAX_AGE seconds."""

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy

from gateway.models import MailUser
from gateway.policy.store import effective_settings
from portal import mail, sms
from portal.models import ExternalAccount, SmsDevice, new_token

log = logging.getLogger(__name__)

SALT = "lockpost.portal.activate"


@transaction.atomic
def invite(email, reason=""):
    """The account for `email`, made if new; a not yet activated account gets
    a fresh activation link (earlier links stop working). An active account
    is returned as it is, with no mail."""
    email = email.strip().lower()
    mail_user, _created = MailUser.objects.get_or_create(email=email)
    account = ExternalAccount.objects.filter(mail_user=mail_user).select_for_update().first()
    if account is None:
        user = get_user_model().objects.create_user(username=email, email=email, is_active=False)
        account = ExternalAccount.objects.create(mail_user=mail_user, user=user, reason=reason[:200])
    elif account.activated_at:
        return account
    else:
        account.activation_nonce = new_token()
        account.invited_at = timezone.now()
        account.save(update_fields=["activation_nonce", "invited_at"])
    link = mail.portal_url(reverse("portal:activate", args=[activation_token(account)]))
    transaction.on_commit(
        lambda: mail.queue(
            email,
            gettext_lazy("Your secure Lockpost account"),
            "portal/mail/activation.txt",
            {"link": link, "reason": reason},
        )
    )
    log.info("portal account invitation queued for %s (%s)", email, reason or "no reason given")
    return account


def activation_token(account):
    return signing.dumps({"a": account.pk, "n": account.activation_nonce}, salt=SALT)


def account_for_token(token):
    """The not yet activated account a link names, or None when the link is
    tampered with, expired, used or superseded."""
    try:
        data = signing.loads(token, salt=SALT, max_age=settings.LOCKPOST_ACTIVATION_MAX_AGE)
    except signing.BadSignature:  # SignatureExpired is one too
        return None
    account = ExternalAccount.objects.filter(pk=data.get("a"), activated_at=None).select_related("user").first()
    if account is None or account.activation_nonce != data.get("n"):
        return None
    return account


def phone_number(email):
    return effective_settings(email)["phone_number"].value or ""


def sms_device(user):
    device, _created = SmsDevice.objects.get_or_create(user=user, defaults={"name": "SMS", "confirmed": True})
    return device


def choose_password(account, password):
    """Step one of activation: the password is kept (hashed), the account stays
    inactive until the second factor is proven."""
    account.user.set_password(password)
    account.user.save(update_fields=["password"])


@transaction.atomic
def finish_activation(account):
    account.user.is_active = True
    account.user.save(update_fields=["is_active"])
    account.activated_at = timezone.now()
    account.activation_nonce = new_token()  # the link is used up
    account.save(update_fields=["activated_at", "activation_nonce"])
    log.info("portal account activated for %s", account.email)


def send_code(user):
    """Send a fresh login code by SMS to the user's number. Raises SmsError
    (or InvalidPhoneNumber) when it cannot be sent."""
    number = phone_number(user.email or user.username)
    if not number:
        raise sms.InvalidPhoneNumber("no phone number in this user's settings")
    code = sms_device(user).new_code()
    body = sms.render_sms("login_code", {"code": code}, mail.language_of(user.email or user.username))
    sms.send_sms(number, body)
    log.info("login code sent by SMS for %s", user.username)
