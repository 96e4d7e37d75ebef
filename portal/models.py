"""Portal accounts of external recipients, second-factor codes by SMS,
session tokens, and certificate pickups."""

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django_otp.models import Device, ThrottlingMixin

from gateway.models import MailUser


def new_token():
    return secrets.token_urlsafe(32)


class SessionToken(models.Model):
    """Held by every session of the user; rotating it ends them all."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="session_token")
    token = models.CharField(max_length=64, default=new_token)

    def __str__(self):
        return f"session token of {self.user}"

    def rotate(self):
        self.token = new_token()
        self.save(update_fields=["token"])


class ExternalAccount(models.Model):
    """A portal account for an address outside the organisation, created the
    first time Lockpost needs one (portal.accounts.invite). Its Django user
    stays inactive, with no usable password, until the activation link is used."""

    mail_user = models.OneToOneField(MailUser, on_delete=models.CASCADE, related_name="portal_account")
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="external_account")
    reason = models.CharField(max_length=200, blank=True, help_text="Why Lockpost made the account.")
    invited_at = models.DateTimeField(default=timezone.now)
    activated_at = models.DateTimeField(null=True, blank=True)
    # Named in the activation link; changed on activation and on a new
    # invitation, so a used or superseded link stops working.
    activation_nonce = models.CharField(max_length=64, default=new_token, editable=False)

    class Meta:
        ordering = ["mail_user__email"]

    def __str__(self):
        return self.mail_user.email

    @property
    def email(self):
        return self.mail_user.email


class SmsDevice(ThrottlingMixin, Device):
    """A second factor: a code sent by SMS to the number in the user's
    settings. Only an HMAC of the code is stored; it expires, and wrong
    tries slow down (ThrottlingMixin) and use it up."""

    code_hash = models.CharField(max_length=128, blank=True)
    valid_until = models.DateTimeField(null=True, blank=True)
    tries_left = models.PositiveSmallIntegerField(default=0)

    MAX_TRIES = 3

    def _hash(self, code):
        return salted_hmac("lockpost.portal.sms-code", f"{self.pk}:{code}", algorithm="sha256").hexdigest()

    def new_code(self):
        """A fresh 6-digit code; returns it for sending, stores only its HMAC."""
        code = f"{secrets.randbelow(10**6):06d}"
        self.code_hash = self._hash(code)
        self.valid_until = timezone.now() + timezone.timedelta(seconds=settings.LOCKPOST_SMS_CODE_MAX_AGE)
        self.tries_left = self.MAX_TRIES
        self.save(update_fields=["code_hash", "valid_until", "tries_left"])
        return code

    def verify_token(self, token):
        allowed, _ = self.verify_is_allowed()
        if not allowed or not self.code_hash or self.tries_left <= 0:
            return False
        if self.valid_until is None or self.valid_until < timezone.now():
            return False
        token = "".join(str(token).split())
        if constant_time_compare(self._hash(token), self.code_hash):
            self.code_hash, self.tries_left = "", 0  # one use
            self.save(update_fields=["code_hash", "tries_left"])
            self.throttle_reset()
            return True
        self.tries_left -= 1
        self.save(update_fields=["tries_left"])
        self.throttle_increment()
        return False

    def get_throttle_factor(self):
        return 1


class Pickup(models.Model):
    """A certificate with its key, waiting for its owner: both PKCS#12 forms
    made at offer time and sealed under the master key. The password went
    out by SMS and is stored nowhere."""

    certificate = models.ForeignKey("ca.Certificate", on_delete=models.CASCADE, related_name="pickups")
    mail_user = models.ForeignKey(MailUser, on_delete=models.CASCADE, related_name="pickups")
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    # Named in the link. The first browser that opens the link claims the
    # pickup; the link then works nowhere else.
    nonce = models.CharField(max_length=64, default=new_token, editable=False)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_session = models.CharField(max_length=64, blank=True, editable=False)
    password_sent_to = models.CharField(max_length=40, blank=True, help_text="sms, or the issuer's address.")
    sealed_modern = models.BinaryField(editable=False)
    sealed_legacy = models.BinaryField(editable=False)
    withdrawn = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"pickup for {self.mail_user} ({self.created_at:%Y-%m-%d})"

    @property
    def expired(self):
        return self.expires_at <= timezone.now()

    @property
    def open(self):
        return not self.withdrawn and not self.expired


class PickupDownload(models.Model):
    """Every download: which form, when, from where."""

    class Form(models.TextChoices):
        MODERN = "modern", "modern (AES-256)"
        LEGACY = "legacy", "legacy (3DES)"

    pickup = models.ForeignKey(Pickup, on_delete=models.CASCADE, related_name="downloads")
    form = models.CharField(max_length=10, choices=Form.choices)
    at = models.DateTimeField(default=timezone.now)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["-at"]

    def __str__(self):
        return f"{self.form} download of {self.pickup_id} at {self.at:%Y-%m-%d %H:%M}"


class SentReply(models.Model):
    """A message written in the portal (a reply from a PDF link, or from the
    secure inbox), recorded when injected into the spool. Counting these
    enforces a reply link's limit and the per-recipient rate."""

    class Via(models.TextChoices):
        PDF = "pdf", "PDF reply link"
        INBOX = "inbox", "secure inbox"

    author = models.CharField(max_length=320, db_index=True, help_text="The external recipient who wrote.")
    to = models.CharField(max_length=320)
    via = models.CharField(max_length=8, choices=Via.choices)
    # The message answered (its queue id); empty for a new message from the inbox.
    in_reply_to_queue_id = models.CharField(max_length=64, blank=True, db_index=True)
    queue_id = models.CharField(max_length=64, help_text="The reply's own queue id in the spool.")
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-at"]

    def __str__(self):
        return f"{self.via} reply from {self.author} to {self.to} ({self.at:%Y-%m-%d %H:%M})"


class InboxMessage(models.Model):
    """A message kept in the portal for an external recipient instead of
    being mailed (setting secure_delivery = portal). The whole message is
    sealed under the master key; only what the list shows is in clear."""

    recipient = models.ForeignKey(MailUser, on_delete=models.CASCADE, related_name="inbox_messages")
    queue_id = models.CharField(max_length=64, help_text="The spooled message it came from.")
    sender = models.CharField(max_length=320, db_index=True)
    subject = models.CharField(max_length=998, blank=True)
    message_id = models.CharField(max_length=998, blank=True, help_text="Its Message-ID header, for replies.")
    sealed = models.BinaryField(editable=False)
    size = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    expires_at = models.DateTimeField(db_index=True)
    read_at = models.DateTimeField(null=True, blank=True)
    read_receipt = models.BooleanField(default=False, help_text="Tell the sender at the first reading.")
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.CharField(max_length=320, blank=True)

    class Meta:
        ordering = ["-received_at", "-pk"]
        constraints = [
            # One copy per message and recipient: a pipeline run again after a crash stores nothing twice.
            models.UniqueConstraint(fields=["queue_id", "recipient"], name="portal_inbox_once_per_recipient"),
        ]

    def __str__(self):
        return f"{self.subject or '(no subject)'} for {self.recipient} from {self.sender}"

    @property
    def available(self):
        return self.revoked_at is None and self.expires_at > timezone.now()
