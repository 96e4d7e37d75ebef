"""The ground floor: messages in the spool, their recipients, outputs and
trail; domains, users and their settings. Imports no other app."""

import hashlib
import secrets

from django.db import connections, models
from django.utils import timezone


def new_queue_id():
    # Short, unique, safe in headers and logs; 12 hex digits like Postfix's.
    return secrets.token_hex(6).upper()


def domain_candidates(domain):
    """The domain-level names whose settings apply to `domain`, most general
    first. For mail.example.com: com, *.com, example.com, *.example.com,
    mail.example.com. So `*.example.com` inherits from `example.com`, and an
    exact name overrides its wildcard."""
    labels = domain.lower().strip(".").split(".")
    names = []
    for i in range(len(labels) - 1, 0, -1):
        parent = ".".join(labels[i:])
        names += [parent, "*." + parent]
    names.append(".".join(labels))
    # A wildcard's own name (*.example.com) already came up as a parent's
    # wildcard; keep each name once, at its most general place.
    return list(dict.fromkeys(names))


class DomainQuerySet(models.QuerySet):
    def lineage(self, domain):
        """The Domain rows whose settings and certificates apply to `domain`,
        most general first (see domain_candidates)."""
        names = domain_candidates(domain)
        found = {d.name: d for d in self.filter(name__in=names)}
        return [found[n] for n in names if n in found]


class Domain(models.Model):
    """A mail domain. `*.example.com` holds settings for every subdomain."""

    name = models.CharField(max_length=253, unique=True)
    internal = models.BooleanField(
        default=False, help_text="Mail from this domain is ours: outgoing, signed, encrypted."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = DomainQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        self.name = self.name.strip().lower()
        super().save(*args, **kwargs)


class MailUser(models.Model):
    """An email address Lockpost has seen or been told about, internal or external."""

    email = models.EmailField(max_length=320, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["email"]
        verbose_name = "user"

    def __str__(self):
        return self.email

    def save(self, *args, **kwargs):
        self.email = self.email.strip().lower()
        super().save(*args, **kwargs)

    @property
    def domain_name(self):
        return self.email.rpartition("@")[2]


class Setting(models.Model):
    """One setting at one level: global (no domain, no user), a domain, or a user.
    Absent rows inherit; see gateway.policy for the definitions and resolution."""

    key = models.CharField(max_length=64)
    value = models.JSONField()
    domain = models.ForeignKey(Domain, null=True, blank=True, on_delete=models.CASCADE, related_name="settings")
    user = models.ForeignKey(MailUser, null=True, blank=True, on_delete=models.CASCADE, related_name="settings")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~(models.Q(domain__isnull=False) & models.Q(user__isnull=False)),
                name="setting_one_level",
            ),
            models.UniqueConstraint(
                fields=["key"],
                condition=models.Q(domain__isnull=True, user__isnull=True),
                name="setting_unique_global",
            ),
            models.UniqueConstraint(
                fields=["key", "domain"], condition=models.Q(domain__isnull=False), name="setting_unique_domain"
            ),
            models.UniqueConstraint(
                fields=["key", "user"], condition=models.Q(user__isnull=False), name="setting_unique_user"
            ),
        ]

    def __str__(self):
        return f"{self.level_label}: {self.key}={self.value!r}"

    @property
    def level_label(self):
        if self.user_id:
            return f"user {self.user}"
        if self.domain_id:
            return f"domain {self.domain}"
        return "global"


class Message(models.Model):
    """A message as the MTA handed it over: envelope and state. The raw bytes
    live in RawMessage so that lists never load them."""

    class State(models.TextChoices):
        RECEIVED = "received", "received"
        PROCESSING = "processing", "processing"
        DELIVERING = "delivering", "delivering"
        DELIVERED = "delivered", "delivered"
        PARTLY_DELIVERED = "partly_delivered", "partly delivered"
        BOUNCED = "bounced", "bounced"
        HELD = "held", "held"

    queue_id = models.CharField(max_length=24, unique=True, default=new_queue_id, editable=False)
    mail_from = models.CharField(max_length=320, blank=True, help_text="Envelope sender; empty for bounces.")
    client_address = models.CharField(max_length=64, blank=True)
    client_helo = models.CharField(max_length=255, blank=True)
    mta_queue_id = models.CharField(max_length=64, blank=True, help_text="The MTA's own queue id, when it sent one.")
    listener_profile = models.CharField(
        max_length=32, blank=True, help_text="The listener profile it came in by (chooses the pipeline); empty: main."
    )
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    subject = models.CharField(max_length=998, blank=True)
    state = models.CharField(max_length=20, choices=State.choices, default=State.RECEIVED, db_index=True)
    # Processing is claimed with a lease: a worker that dies leaves an expired
    # lease behind, and the sweeper rings for the message again.
    lease_until = models.DateTimeField(null=True, blank=True, db_index=True)
    process_attempts = models.PositiveIntegerField(default=0)
    rung_at = models.DateTimeField(null=True, blank=True, help_text="When a worker was last asked to process it.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self):
        return f"{self.queue_id} from <{self.mail_from}>"


class RawMessage(models.Model):
    """The exact bytes received. Never rewritten."""

    message = models.OneToOneField(Message, primary_key=True, on_delete=models.CASCADE, related_name="raw")
    data = models.BinaryField()

    def __str__(self):
        return f"raw bytes of {self.message_id}"

    @staticmethod
    def digest(data):
        return hashlib.sha256(data).hexdigest()


class Delivery(models.Model):
    """One output of the pipeline: bytes to send to a group of recipients."""

    class State(models.TextChoices):
        PENDING = "pending", "pending"
        DEFERRED = "deferred", "deferred (will retry)"
        DELIVERED = "delivered", "delivered"
        PARTLY_DELIVERED = "partly_delivered", "partly delivered"
        BOUNCED = "bounced", "bounced"

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="deliveries")
    # Names the output within its message so that reprocessing after a crash
    # finds the same row instead of making a second one.
    group_key = models.CharField(max_length=64)
    treatment = models.CharField(max_length=64, default="plain")
    mail_from = models.CharField(max_length=320, blank=True)
    # Header fields sent above `content`; with `content` empty, above the
    # message's raw bytes (an output that is the message as received).
    prefix = models.BinaryField(default=b"", blank=True)
    content = models.BinaryField()
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now, db_index=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    last_reply = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["message", "group_key"], name="delivery_unique_group")]
        verbose_name_plural = "deliveries"

    def __str__(self):
        return f"{self.message.queue_id}/{self.group_key} ({self.state})"


class Recipient(models.Model):
    """One RCPT TO of a message, with its own fate."""

    class Direction(models.TextChoices):
        UNKNOWN = "", "not yet classified"
        INCOMING = "incoming", "incoming"
        OUTGOING = "outgoing", "outgoing"
        INTERNAL = "internal", "internal"

    class State(models.TextChoices):
        PENDING = "pending", "pending"
        DELIVERED = "delivered", "delivered"
        BOUNCED = "bounced", "bounced"
        HELD = "held", "held"

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="recipients")
    address = models.CharField(max_length=320)
    position = models.PositiveIntegerField(default=0, help_text="Order of RCPT TO.")
    direction = models.CharField(max_length=10, choices=Direction.choices, default=Direction.UNKNOWN, blank=True)
    bcc = models.BooleanField(default=False, help_text="Not named in To or Cc: gets an output of its own.")
    delivery = models.ForeignKey(Delivery, null=True, blank=True, on_delete=models.SET_NULL, related_name="recipients")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    reply = models.TextField(blank=True, help_text="The next hop's last answer for this recipient.")
    dsn_sent = models.BooleanField(default=False)

    class Meta:
        ordering = ["message", "position"]
        constraints = [models.UniqueConstraint(fields=["message", "position"], name="recipient_unique_position")]

    def __str__(self):
        return self.address


class TrailEntry(models.Model):
    """Append-only record of what a stage did to a message, and why."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="trail")
    at = models.DateTimeField(default=timezone.now)
    stage = models.CharField(max_length=64)
    text = models.TextField()
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["message", "at", "id"]
        verbose_name_plural = "trail entries"

    def __str__(self):
        return f"[{self.stage}] {self.text}"


class ConfigEpoch(models.Model):
    """A counter moved on, in the same transaction, by every change to the
    configuration a process keeps in memory (settings, domains, DLP rules):
    a process that finds it where it was knows its copy is still good. In the
    database, not Django's cache, so a change made by the admin's process
    reaches every gateway process (see gateway.policy.epoch)."""

    POLICY = "policy"  # settings, domains, users' levels, DLP rules and exemptions

    name = models.CharField(max_length=32, primary_key=True)
    value = models.BigIntegerField(default=0)
    # Random on every bump: a rolled-back bump, or a row deleted and made
    # again, never brings back a (value, stamp) pair a process has seen.
    stamp = models.BigIntegerField(default=0)

    def __str__(self):
        return f"{self.name} epoch {self.value}"

    @classmethod
    def bump(cls, name, using="default"):
        """Move `name` on (creating its row), as part of the current transaction."""
        table = connections[using].ops.quote_name(cls._meta.db_table)
        with connections[using].cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (name, value, stamp) VALUES (%s, 1, %s) "  # noqa: S608 - our own table name
                f"ON CONFLICT (name) DO UPDATE SET value = {table}.value + 1, stamp = excluded.stamp",
                [name, secrets.randbits(62)],
            )

    @classmethod
    def read(cls, name, using="default"):
        """(value, stamp) of `name`, (0, 0) when it was never bumped."""
        table = connections[using].ops.quote_name(cls._meta.db_table)
        with connections[using].cursor() as cursor:
            cursor.execute(f"SELECT value, stamp FROM {table} WHERE name = %s", [name])  # noqa: S608
            row = cursor.fetchone()
        return tuple(row) if row else (0, 0)


# Kept in a module of its own (the PDF pipeline owns it); imported here so
# Django finds it with the rest of the app's models.
from gateway.pdf_secret_model import PdfSecret  # noqa: E402, F401
