"""The shapes of the DLP API. Rules are checked by the model's own clean(),
which runs them through the engine: the same check the admin makes."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from dlp.models import Exemption, QuarantinedMessage, QuarantineEvent, Rule
from gateway.models import Domain, MailUser


class LevelFields(serializers.ModelSerializer):
    """domain by name, user by address; neither: the gateway level."""

    domain = serializers.SlugRelatedField(
        slug_field="name", queryset=Domain.objects.all(), required=False, allow_null=True
    )
    user = serializers.SlugRelatedField(
        slug_field="email", queryset=MailUser.objects.all(), required=False, allow_null=True
    )
    level = serializers.CharField(source="level_label", read_only=True)

    def validate(self, data):
        instance = self.Meta.model(**{**self._current(), **data})
        instance._state.adding = self.instance is None  # so the row does not clash with itself
        try:
            instance.clean()
            instance.validate_constraints()  # one name per level
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.messages) from None
        return data

    def _current(self):
        if self.instance is None:
            return {}
        return {f.name: getattr(self.instance, f.name) for f in self.Meta.model._meta.fields}


class RuleSerializer(LevelFields):
    class Meta:
        model = Rule
        fields = [
            "id", "name", "description", "kind", "keywords", "pattern", "detector", "threshold", "hotwords",
            "hotword_distance", "exceptions", "exception_patterns", "action", "exemptible", "enabled",
            "domain", "user", "level", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["updated_at"]
        validators = []  # the partial unique constraints are checked in validate()


class ExemptionSerializer(LevelFields):
    class Meta:
        model = Exemption
        fields = ["id", "rule_name", "domain", "user", "level", "created_at"]
        read_only_fields = ["created_at"]
        validators = []


class EventSerializer(serializers.ModelSerializer):
    class Meta:
        model = QuarantineEvent
        fields = ["at", "who", "what", "note"]


class QuarantinedSerializer(serializers.ModelSerializer):
    queue_id = serializers.CharField(source="message.queue_id", read_only=True)
    rules_hit = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = QuarantinedMessage
        fields = [
            "id", "queue_id", "sender", "subject", "action", "status", "rules_hit", "created_at", "expires_at",
            "decided_at", "decided_by",
        ]  # fmt: skip
        read_only_fields = fields


class QuarantinedDetailSerializer(QuarantinedSerializer):
    """With the verdict (evidence masked, never the values found) and the event log."""

    events = EventSerializer(many=True, read_only=True)
    recipients = serializers.SerializerMethodField()

    class Meta(QuarantinedSerializer.Meta):
        fields = [*QuarantinedSerializer.Meta.fields, "verdict", "recipients", "events"]
        read_only_fields = fields

    def get_recipients(self, row) -> list[str]:
        return list(row.message.recipients.order_by("position").values_list("address", flat=True))
