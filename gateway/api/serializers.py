"""The shapes the API reads and writes. Values of settings are checked by
gateway.policy.service, the same check the admin and the commands use."""

from rest_framework import serializers

from gateway.models import Delivery, Domain, MailUser, Message, Recipient, TrailEntry
from gateway.policy import service
from gateway.policy.definitions import DEFINITIONS


class DomainSerializer(serializers.ModelSerializer):
    class Meta:
        model = Domain
        fields = ["name", "internal", "created_at"]
        read_only_fields = ["created_at"]
        # Uniqueness is checked after the name is normalised (validate_name).
        extra_kwargs = {"name": {"validators": []}}

    def validate_name(self, value):
        try:
            name = service.clean_domain_name(value)
        except service.SettingError as error:
            raise serializers.ValidationError(str(error)) from None
        taken = Domain.objects.filter(name=name)
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise serializers.ValidationError(f"domain {name} exists already")
        return name


class MailUserSerializer(serializers.ModelSerializer):
    domain = serializers.CharField(source="domain_name", read_only=True)

    class Meta:
        model = MailUser
        fields = ["email", "domain", "created_at"]
        read_only_fields = ["created_at"]
        extra_kwargs = {"email": {"validators": []}}

    def validate_email(self, value):
        try:
            email = service.clean_address(value)
        except service.SettingError as error:
            raise serializers.ValidationError(str(error)) from None
        taken = MailUser.objects.filter(email=email)
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise serializers.ValidationError(f"user {email} exists already")
        return email


class SettingSerializer(serializers.Serializer):
    """One setting at one level."""

    key = serializers.ChoiceField(choices=sorted(DEFINITIONS))
    value = serializers.JSONField(help_text="true/false, one of the setting's choices, or text.")


class SettingValueSerializer(serializers.Serializer):
    value = serializers.JSONField(help_text="true/false, one of the setting's choices, or text.")


class EffectiveSettingSerializer(serializers.Serializer):
    key = serializers.CharField()
    value = serializers.JSONField()
    origin = serializers.CharField(
        help_text='Where the value comes from: "factory", "global", "domain NAME", "user ADDRESS".'
    )


class DefinitionSerializer(serializers.Serializer):
    key = serializers.CharField()
    kind = serializers.CharField(help_text="text, boolean or integer")
    choices = serializers.ListField(child=serializers.CharField())
    default = serializers.JSONField(help_text="The factory default.")
    help = serializers.CharField()


class RecipientSerializer(serializers.ModelSerializer):
    class Meta:
        model = Recipient
        fields = ["position", "address", "direction", "bcc", "state", "reply", "delivery", "dsn_sent"]


class DeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = Delivery
        # Not the content: it can be large and holds what was protected.
        fields = [
            "id",
            "group_key",
            "treatment",
            "mail_from",
            "state",
            "attempts",
            "next_attempt_at",
            "last_reply",
            "created_at",
            "finished_at",
        ]


class TrailEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = TrailEntry
        fields = ["at", "stage", "text", "data"]


class MessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Message
        fields = ["id", "queue_id", "mail_from", "subject", "state", "received_at", "size"]


class MessageDetailSerializer(MessageSerializer):
    recipients = RecipientSerializer(many=True, read_only=True)
    deliveries = DeliverySerializer(many=True, read_only=True)
    trail = TrailEntrySerializer(many=True, read_only=True)

    class Meta(MessageSerializer.Meta):
        fields = [
            *MessageSerializer.Meta.fields,
            "client_address",
            "client_helo",
            "mta_queue_id",
            "sha256",
            "process_attempts",
            "rung_at",
            "updated_at",
            "recipients",
            "deliveries",
            "trail",
        ]


class RequeueSerializer(serializers.Serializer):
    queue_id = serializers.CharField()
    outcome = serializers.CharField(help_text="What the worker did.")
