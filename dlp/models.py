"""DLP rules stored at three levels (gateway, domain, user), exemptions, and
the quarantine. The scanning engine itself (dlp.scan) knows nothing of these:
`Rule.to_rule()` hands it a plain dlp.rules.Rule."""

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from dlp import rules as engine_rules
from dlp.engine import compile_rules
from gateway.models import ConfigEpoch, Domain, MailUser, Message

ACTION_CHOICES = [(a, a.replace("_", " ")) for a in engine_rules.ACTIONS]
KIND_CHOICES = [(k, k) for k in engine_rules.KINDS]


def one_level(prefix):
    """A row belongs to the gateway (no owner), one domain, or one user: never both."""
    return models.CheckConstraint(
        condition=~(Q(domain__isnull=False) & Q(user__isnull=False)), name=f"{prefix}_one_level"
    )


def unique_per_level(prefix, field):
    return [
        models.UniqueConstraint(
            fields=[field], condition=Q(domain__isnull=True, user__isnull=True), name=f"{prefix}_unique_gateway"
        ),
        models.UniqueConstraint(
            fields=[field, "domain"], condition=Q(domain__isnull=False), name=f"{prefix}_unique_domain"
        ),
        models.UniqueConstraint(fields=[field, "user"], condition=Q(user__isnull=False), name=f"{prefix}_unique_user"),
    ]


class PolicyQuerySet(models.QuerySet):
    """Rules and exemptions are cached per process under the policy epoch
    (gateway.policy.epoch): the writes that send no signals move it on too.
    (Saves and deletes do, through the receivers gateway.policy.epoch connects.)"""

    def update(self, **kwargs):
        with transaction.atomic(using=self.db):
            done = super().update(**kwargs)
            ConfigEpoch.bump(ConfigEpoch.POLICY, using=self.db)
        return done

    def bulk_create(self, objs, *args, **kwargs):
        with transaction.atomic(using=self.db):
            made = super().bulk_create(objs, *args, **kwargs)
            ConfigEpoch.bump(ConfigEpoch.POLICY, using=self.db)
        return made

    def bulk_update(self, objs, *args, **kwargs):
        with transaction.atomic(using=self.db):
            done = super().bulk_update(objs, *args, **kwargs)
            ConfigEpoch.bump(ConfigEpoch.POLICY, using=self.db)
        return done


class SavedWithEpoch:
    """A save outside a transaction still commits with its epoch bump (the
    post_save receiver), so no process sees the row with the old epoch."""

    def save(self, *args, **kwargs):
        with transaction.atomic(using=kwargs.get("using")):
            super().save(*args, **kwargs)


class LevelMixin:
    @property
    def level_label(self):
        if self.user_id:
            return f"user {self.user}"
        if self.domain_id:
            return f"domain {self.domain}"
        return "gateway"


class Rule(SavedWithEpoch, LevelMixin, models.Model):
    """One DLP rule at one level. Checked by the engine on every save, so a
    rule the scanner cannot run (bad RE2 pattern, unknown detector) is
    refused when written, not when mail arrives."""

    name = models.CharField(max_length=100)
    description = models.CharField(max_length=300, blank=True)
    kind = models.CharField(max_length=16, choices=KIND_CHOICES)
    keywords = models.JSONField(default=list, blank=True, help_text="Words or phrases (kind keywords).")
    pattern = models.CharField(max_length=2000, blank=True, help_text="An RE2 expression (kind regex).")
    detector = models.CharField(max_length=40, blank=True, help_text="credit_card, iban, nl_bsn, ... (kind detector).")
    threshold = models.PositiveIntegerField(default=1, help_text="Distinct matches needed for a hit.")
    hotwords = models.JSONField(default=list, blank=True, help_text="Words that must appear near a match.")
    hotword_distance = models.PositiveIntegerField(default=60)
    exceptions = models.JSONField(default=list, blank=True, help_text="Values that never count.")
    exception_patterns = models.JSONField(
        default=list, blank=True, help_text="RE2 patterns of values that never count."
    )
    action = models.CharField(max_length=16, choices=ACTION_CHOICES, default="quarantine")
    exemptible = models.BooleanField(default=True, help_text="Domains and users below may exempt themselves.")
    enabled = models.BooleanField(default=True)
    domain = models.ForeignKey(Domain, null=True, blank=True, on_delete=models.CASCADE, related_name="dlp_rules")
    user = models.ForeignKey(MailUser, null=True, blank=True, on_delete=models.CASCADE, related_name="dlp_rules")
    updated_at = models.DateTimeField(auto_now=True)

    objects = PolicyQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [one_level("dlp_rule"), *unique_per_level("dlp_rule", "name")]

    def __str__(self):
        return f"{self.name} ({self.level_label})"

    def save(self, *args, **kwargs):
        self.clean()
        super().save(*args, **kwargs)

    def to_rule(self):
        """The engine's plain rule (raises dlp.rules.RuleError)."""
        fields = {f.attname: getattr(self, f.attname) for f in self._meta.fields}
        return engine_rules.Rule.from_dict(fields)

    def clean(self):
        if self.domain_id and self.user_id:
            raise ValidationError("A rule belongs to the gateway, one domain or one user, not both.")
        for name in ("keywords", "hotwords", "exceptions", "exception_patterns"):
            value = getattr(self, name)
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                raise ValidationError({name: "a list of texts"})
        try:
            compile_rules((self.to_rule(),))
        except (engine_rules.RuleError, ValueError, TypeError) as error:
            raise ValidationError(getattr(error, "reason", str(error))) from None


class Exemption(SavedWithEpoch, LevelMixin, models.Model):
    """A domain or user opting out of an inherited rule, by name. The rule
    must allow it (Rule.exemptible); dlp.inherit reports refused exemptions."""

    rule_name = models.CharField(max_length=100)
    domain = models.ForeignKey(Domain, null=True, blank=True, on_delete=models.CASCADE, related_name="dlp_exemptions")
    user = models.ForeignKey(MailUser, null=True, blank=True, on_delete=models.CASCADE, related_name="dlp_exemptions")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = PolicyQuerySet.as_manager()

    class Meta:
        ordering = ["rule_name"]
        constraints = [
            one_level("dlp_exemption"),
            models.CheckConstraint(
                condition=Q(domain__isnull=False) | Q(user__isnull=False), name="dlp_exemption_has_owner"
            ),
            *unique_per_level("dlp_exemption", "rule_name")[1:],
        ]

    def __str__(self):
        return f"{self.level_label} exempt from {self.rule_name}"

    def clean(self):
        if bool(self.domain_id) == bool(self.user_id):
            raise ValidationError("An exemption belongs to exactly one domain or one user.")


class QuarantinedMessage(models.Model):
    """A message held by DLP: the spooled message (held, its bytes kept until
    released, deleted or expired) and what was found, evidence masked."""

    class Status(models.TextChoices):
        HELD = "held", _("held")
        RELEASED = "released", _("released")
        DELETED = "deleted", _("deleted")
        EXPIRED = "expired", _("expired")

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="quarantine")
    sender = models.CharField(max_length=320, db_index=True)
    sender_domain = models.CharField(max_length=253, db_index=True)
    subject = models.CharField(max_length=998, blank=True)
    action = models.CharField(max_length=16, help_text="The verdict that held it: quarantine, or block held.")
    verdict = models.JSONField(default=dict, help_text="Rules hit with masked evidence; unscannable parts.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.HELD, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.CharField(max_length=320, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "quarantined message"

    def __str__(self):
        return f"{self.message.queue_id} from <{self.sender}> ({self.status})"

    @property
    def rules_hit(self):
        return [hit["rule"] for hit in self.verdict.get("hits", [])]


class QuarantineEvent(models.Model):
    """Append-only: who did what to a quarantined message, and when."""

    class What(models.TextChoices):
        HELD = "held", _("held")
        VIEWED = "viewed", _("viewed")
        DOWNLOADED = "downloaded", _("downloaded")
        RELEASED = "released", _("released")
        DELETED = "deleted", _("deleted")
        EXPIRED = "expired", _("expired")

    quarantined = models.ForeignKey(QuarantinedMessage, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    who = models.CharField(max_length=320)
    what = models.CharField(max_length=12, choices=What.choices)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["quarantined", "at", "id"]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.who} {self.what}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("quarantine events are never changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("quarantine events are never deleted")


class Notice(models.Model):
    """That the notifications for a message's verdict were queued: a message
    processed again (a worker died) does not notify twice."""

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="dlp_notice")
    action = models.CharField(max_length=16)
    queue_ids = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"DLP notice for {self.message_id}: {self.action}"
