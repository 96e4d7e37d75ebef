"""Certificates, trust lists, our CA and CRLs through the API (staff only).
Exporting a private key needs the permission ca.export_private_key too."""

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from ca import authority, formats, pkcs12, selection, store, trust
from ca.keys import private_key_for
from ca.models import Certificate, CertificateAuthority, RevocationList, TrustListEntry
from ca.validation import Usage

from . import serializers as s

STATES = ["valid", "expired", "expiring", "revoked", "blocked"]


class CanExportKeys(permissions.BasePermission):
    def has_permission(self, request, view):
        return request.user.has_perm("ca.export_private_key")


def _x509(cert):
    return x509.load_der_x509_certificate(bytes(cert.der))


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("email", str, description="Certificates naming this address."),
            OpenApiParameter("state", str, enum=STATES),
        ]
    )
)
@extend_schema(tags=["certificates"])
class CertificateViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin, viewsets.GenericViewSet
):
    """Certificates in the store. Trust is computed at use: see `selection`."""

    queryset = Certificate.objects.defer("der").prefetch_related("emails").order_by("id")
    serializer_class = s.CertificateSerializer
    lookup_field = "sha256"

    def get_queryset(self):
        certs = super().get_queryset()
        email = self.request.query_params.get("email")
        if email:
            certs = certs.filter(emails__email=email.strip().lower())
        state = self.request.query_params.get("state")
        now = timezone.now()
        if state == "valid":
            certs = certs.filter(not_before__lte=now, not_after__gt=now)
        elif state == "expired":
            certs = certs.filter(not_after__lte=now)
        elif state == "expiring":
            certs = certs.filter(not_after__gt=now, not_after__lte=now + timezone.timedelta(days=30))
        elif state == "revoked":
            certs = certs.filter(revocation__isnull=False)
        elif state == "blocked":
            certs = certs.filter(sha256__in=TrustListEntry.objects.filter(action="block").values("sha256"))
        return certs

    @extend_schema(request={"multipart/form-data": s.ImportSerializer}, responses=s.CertificateSerializer(many=True))
    @action(detail=False, methods=["post"], parser_classes=[MultiPartParser, FormParser], url_path="import")
    def import_file(self, request):
        """Import one file (PEM, DER, P7B, PKCS#12 with its password)."""
        form = s.ImportSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            bundle = formats.read_bundle(form.validated_data["file"].read(), form.validated_data.get("password"))
        except formats.UnreadableFile as error:
            raise ValidationError({"file": str(error)}) from None
        certs = store.import_bundle(bundle)
        if form.validated_data["trust_anchor"]:
            certs = [
                store.add_certificate(bytes(c.der), trust_anchor=True)[0] if c.is_ca and c.subject == c.issuer else c
                for c in certs
            ]
        return Response(s.CertificateSerializer(certs, many=True).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={(200, "application/x-pem-file"): OpenApiTypes.BINARY})
    @action(detail=True)
    def pem(self, request, sha256):
        cert = Certificate.objects.get(sha256=sha256)
        body = _x509(cert).public_bytes(serialization.Encoding.PEM)
        return HttpResponse(body, content_type="application/x-pem-file")

    @extend_schema(responses={(200, "application/pkix-cert"): OpenApiTypes.BINARY})
    @action(detail=True)
    def der(self, request, sha256):
        return HttpResponse(bytes(Certificate.objects.get(sha256=sha256).der), content_type="application/pkix-cert")

    @extend_schema(request=s.Pkcs12RequestSerializer, responses={(200, "application/x-pkcs12"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["post"], permission_classes=[permissions.IsAdminUser, CanExportKeys])
    def pkcs12(self, request, sha256):
        """The certificate with its private key and chain, as PKCS#12 under the given password."""
        form = s.Pkcs12RequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        cert = self.get_object()
        stored = getattr(cert, "private_key", None)
        if stored is None or stored.token_label:
            raise ValidationError("no exportable private key for this certificate (none, or held in the token)")
        path = trust.current().judge(cert, Usage.SIGN, timezone.now()).path
        data = pkcs12.export(
            private_key_for(cert),
            _x509(cert),
            path[1:],
            form.validated_data["password"],
            cert.subject,
            legacy=form.validated_data["legacy"],
        )
        return HttpResponse(data, content_type="application/x-pkcs12")

    @extend_schema(request=s.RevokeSerializer, responses=s.CertificateSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, sha256):
        form = s.RevokeSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        cert = self.get_object()
        try:
            authority.revoke(cert, form.validated_data["reason"])
        except ValueError as error:
            raise ValidationError(str(error)) from None
        return Response(s.CertificateSerializer(cert).data)


@extend_schema(tags=["certificates"], responses=s.SelectionSerializer)
class SelectionViewSet(viewsets.ViewSet):
    """What selection chooses for an address (usable first), and why each other candidate is not."""

    lookup_value_regex = r"[^/]+"

    def retrieve(self, request, pk):
        return Response(
            {
                "encrypt": s.VerdictSerializer(selection.encryption_certificates(pk).verdicts, many=True).data,
                "sign": s.VerdictSerializer(selection.signing_identity(pk).verdicts, many=True).data,
            }
        )


@extend_schema(tags=["certificate authority"])
class AuthorityViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """Our own CAs. Creating one makes a root (keys are made on the server)."""

    queryset = CertificateAuthority.objects.select_related("certificate").order_by("id")
    serializer_class = s.AuthoritySerializer

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = authority.create_root(data["name"], data["key_type"], in_token=data["in_token"])

    @extend_schema(request=s.IssueSerializer, responses=s.CertificateSerializer)
    @action(detail=True, methods=["post"])
    def issue(self, request, pk):
        """Issue an S/MIME certificate (key made here or in the token)."""
        form = s.IssueSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        cert = authority.issue(
            data["email"],
            data["common_name"],
            data["key_type"],
            self.get_object(),
            in_token=data["in_token"],
            issued_by=request.user,
        )
        return Response(s.CertificateSerializer(cert).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["certificates"])
class TrustListViewSet(viewsets.ModelViewSet):
    """Allow or block single certificates by SHA-256 thumbprint; blocked always wins."""

    queryset = TrustListEntry.objects.order_by("id")
    serializer_class = s.TrustListEntrySerializer


@extend_schema(tags=["certificates"])
class RevocationListViewSet(viewsets.ReadOnlyModelViewSet):
    """CRLs fetched from distribution points."""

    queryset = RevocationList.objects.defer("der").order_by("id")
    serializer_class = s.RevocationListSerializer
