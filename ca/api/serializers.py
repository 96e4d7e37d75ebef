from rest_framework import serializers

from ca import authority
from ca.models import Certificate, CertificateAuthority, RevocationList, TrustListEntry


class CertificateSerializer(serializers.ModelSerializer):
    emails = serializers.SlugRelatedField(many=True, read_only=True, slug_field="email")
    has_private_key = serializers.SerializerMethodField()

    class Meta:
        model = Certificate
        fields = [
            "sha256",
            "sha1",
            "subject",
            "issuer",
            "serial",
            "not_before",
            "not_after",
            "emails",
            "key_algorithm",
            "key_usage",
            "extended_key_usage",
            "is_ca",
            "trust_anchor",
            "source",
            "crl_urls",
            "has_private_key",
            "created_at",
        ]
        read_only_fields = [f for f in fields if f != "trust_anchor"]

    def get_has_private_key(self, obj) -> bool:
        return hasattr(obj, "private_key")


class VerdictSerializer(serializers.Serializer):
    sha256 = serializers.CharField(source="certificate.sha256")
    subject = serializers.CharField(source="certificate.subject")
    origin = serializers.CharField()
    usable = serializers.BooleanField()
    problem = serializers.CharField(allow_null=True)
    warning = serializers.CharField(allow_null=True)


class SelectionSerializer(serializers.Serializer):
    encrypt = VerdictSerializer(many=True)
    sign = VerdictSerializer(many=True)


class ImportSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="PEM, DER, P7B or PKCS#12.")
    password = serializers.CharField(required=False, allow_blank=True, write_only=True)
    trust_anchor = serializers.BooleanField(default=False)


class Pkcs12RequestSerializer(serializers.Serializer):
    password = serializers.CharField(min_length=8, write_only=True)
    legacy = serializers.BooleanField(default=False, help_text="3DES and SHA-1 MAC, for old clients and gpgsm.")


class RevokeSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=sorted(authority.REASONS), default="unspecified")


class AuthoritySerializer(serializers.ModelSerializer):
    certificate = serializers.CharField(source="certificate.sha256", read_only=True)
    key_type = serializers.ChoiceField(choices=authority.KEY_TYPES, write_only=True, default="rsa3072")
    in_token = serializers.BooleanField(write_only=True, default=False, help_text="Make the key in the PKCS#11 token.")

    class Meta:
        model = CertificateAuthority
        fields = [
            "id",
            "name",
            "certificate",
            "parent",
            "issues_users",
            "validity_days",
            "key_type",
            "in_token",
            "created_at",
        ]
        read_only_fields = ["id", "certificate", "parent", "issues_users", "created_at"]


class IssueSerializer(serializers.Serializer):
    email = serializers.EmailField()
    common_name = serializers.CharField(required=False, allow_blank=True, default="")
    key_type = serializers.ChoiceField(choices=authority.KEY_TYPES, default="rsa3072")
    in_token = serializers.BooleanField(default=False)


class TrustListEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = TrustListEntry
        fields = ["id", "sha256", "action", "reason", "created_at"]
        read_only_fields = ["id", "created_at"]


class RevocationListSerializer(serializers.ModelSerializer):
    class Meta:
        model = RevocationList
        fields = ["id", "issuer", "url", "this_update", "next_update", "crl_number", "fetched_at", "last_error"]
