"""Certificate pickup: a certificate our CA issued for an external recipient,
handed over with its private key as PKCS#12.

    from portal.pickup import offer
    pickup = offer(certificate, issued_by_user=request.user)

makes both PKCS#12 forms (modern and legacy) under a fresh password, keeps
them sealed under the master key until the pickup expires, sends the password
by SMS to the recipient's number (or, without one, by mail to the issuer, who
passes it on), and queues an email with the pickup link. The password is
stored nowhere."""

import hashlib
import logging
import secrets

from cryptography import x509
from django.conf import settings
from django.core import signing
from django.db import transaction
from django.dispatch import receiver
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from ca import passwords, pkcs12
from ca.authority import issuing_authority
from ca.keys import private_key_for
from ca.sealing import seal, unseal
from ca.signals import certificate_issued
from gateway.models import MailUser
from gateway.policy.store import is_internal_address
from portal import mail, sms
from portal.accounts import phone_number
from portal.models import Pickup, PickupDownload

log = logging.getLogger(__name__)

SALT = "lockpost.portal.pickup"
PURPOSE = "portal-pickup"


class PickupError(Exception):
    """The certificate cannot be offered (no exportable key, no way to send the password)."""


def _chain(certificate):
    """The CA certificates above `certificate`, nearest first."""
    chain = []
    authority = issuing_authority(certificate)
    while authority is not None and len(chain) < 8:
        chain.append(x509.load_der_x509_certificate(bytes(authority.certificate.der)))
        authority = authority.parent
    return chain


def offer(certificate, issued_by_user=None):
    email = (certificate.users.values_list("email", flat=True).first()
             or certificate.emails.values_list("email", flat=True).first())  # fmt: skip
    if not email:
        raise PickupError("this certificate names no email address")
    stored = getattr(certificate, "private_key", None)
    if stored is None or stored.token_label:
        raise PickupError("no exportable private key for this certificate (none, or held in the token)")
    number = phone_number(email)
    issuer_address = getattr(issued_by_user, "email", "") if issued_by_user else ""
    if not number and not issuer_address:
        raise PickupError(f"no phone number for {email} and no issuer to pass the password on")

    password = passwords.generate()
    key = private_key_for(certificate)
    cert = x509.load_der_x509_certificate(bytes(certificate.der))
    chain = _chain(certificate)
    master = settings.LOCKPOST_MASTER_KEY
    modern = pkcs12.export(key, cert, chain, password, friendly_name=email)
    legacy = pkcs12.export(key, cert, chain, password, friendly_name=email, legacy=True)
    language = mail.language_of(email)

    with transaction.atomic():
        # One live link per certificate: offering again withdraws the last one.
        Pickup.objects.filter(certificate=certificate, withdrawn=False).update(withdrawn=True)
        pickup = Pickup.objects.create(
            certificate=certificate,
            mail_user=MailUser.objects.get_or_create(email=email)[0],
            issued_by=issued_by_user,
            expires_at=timezone.now() + timezone.timedelta(seconds=settings.LOCKPOST_PICKUP_MAX_AGE),
            password_sent_to="sms" if number else issuer_address,
            sealed_modern=seal(modern, master, PURPOSE),
            sealed_legacy=seal(legacy, master, PURPOSE),
        )
        link = mail.portal_url(reverse("portal:pickup", args=[pickup_token(pickup)]))
        if number:
            # Inside the transaction: a password that cannot be sent leaves no pickup behind.
            sms.send_sms(number, sms.render_sms("pickup_password", {"password": password}, language))
        else:
            # The subject in the issuer's language, as mail.queue renders the text.
            with translation.override(mail.language_of(issuer_address)):
                subject = str(_("Password for the certificate of %(email)s") % {"email": email})
            mail.queue(
                issuer_address,
                subject,
                "portal/mail/pickup_password.txt",
                {"email": email, "password": password},
            )
        mail.queue(email, _("Your certificate is ready"), "portal/mail/pickup.txt", {"link": link}, language)
    log.info("certificate pickup %s offered to %s; password sent by %s", pickup.pk, email,
             "SMS" if number else "mail to the issuer")  # fmt: skip
    return pickup


def pickup_token(pickup):
    return signing.dumps({"p": pickup.pk, "n": pickup.nonce}, salt=SALT)


def pickup_for_token(token):
    """The open pickup a link names, or None when tampered, expired or withdrawn."""
    try:
        data = signing.loads(token, salt=SALT, max_age=settings.LOCKPOST_PICKUP_MAX_AGE)
    except signing.BadSignature:
        return None
    pickup = Pickup.objects.filter(pk=data.get("p")).select_related("mail_user", "certificate").first()
    if pickup is None or pickup.nonce != data.get("n") or not pickup.open:
        return None
    return pickup


def _digest(secret):
    return hashlib.sha256(secret.encode()).hexdigest()


SESSION_KEY = "lockpost_pickups"


@transaction.atomic
def claim(request, pickup):
    """Bind the pickup to this browser session the first time its link is
    opened; True if this session holds it (now or from before)."""
    pickup = Pickup.objects.select_for_update().get(pk=pickup.pk)
    held = request.session.get(SESSION_KEY, {}).get(str(pickup.pk), "")
    if pickup.claimed_at:
        return bool(held) and secrets.compare_digest(_digest(held), pickup.claimed_session)
    secret = secrets.token_urlsafe(32)
    pickup.claimed_at = timezone.now()
    pickup.claimed_session = _digest(secret)
    pickup.save(update_fields=["claimed_at", "claimed_session"])
    request.session[SESSION_KEY] = {**request.session.get(SESSION_KEY, {}), str(pickup.pk): secret}
    return True


def claimed_by_session(request, pk):
    """The open pickup `pk` if this session claimed it; else None."""
    held = request.session.get(SESSION_KEY, {}).get(str(pk), "")
    pickup = Pickup.objects.filter(pk=pk).select_related("mail_user").first()
    if not held or pickup is None or not pickup.open or not pickup.claimed_session:
        return None
    if not secrets.compare_digest(_digest(held), pickup.claimed_session):
        return None
    return pickup


def download(request, pickup, form):
    """The PKCS#12 bytes of one form; the download is recorded."""
    sealed = pickup.sealed_legacy if form == PickupDownload.Form.LEGACY else pickup.sealed_modern
    data = unseal(sealed, settings.LOCKPOST_MASTER_KEY, PURPOSE)
    user = request.user if request.user.is_authenticated else None
    PickupDownload.objects.create(
        pickup=pickup,
        form=form,
        ip_address=request.META.get("REMOTE_ADDR") or None,
        user_agent=request.headers.get("user-agent", "")[:300],
        user=user,
    )
    log.info("certificate pickup %s downloaded (%s)", pickup.pk, form)
    return data


def purge_expired():
    """Forget the PKCS#12 files of expired pickups; the records stay. Run
    hourly (portal.tasks.purge_pickups)."""
    expired = Pickup.objects.filter(expires_at__lte=timezone.now()).exclude(sealed_modern=b"")
    return expired.update(sealed_modern=b"", sealed_legacy=b"")


@receiver(certificate_issued)
def offer_to_external_recipient(sender, certificate, issued_by=None, **kwargs):
    """Our CA issued a certificate: an external recipient gets a pickup (their
    key is of no use on the gateway); internal users' keys stay here."""
    email = certificate.emails.values_list("email", flat=True).first()
    if not email or is_internal_address(email):
        return None
    try:
        offer(certificate, issued_by_user=issued_by)
    except PickupError as error:
        return f"No pickup offered to {email}: {error}."
    return f"Pickup offered to {email}."
