"""DLP through the API: rules and exemptions at each level (staff), the
effective rules of an address (staff), and the quarantine: staff, the DLP
managers of the sender's domain, or the sender when their settings allow
(dlp.services.may_act). A quarantined message someone may not act on is
not found, rather than forbidden, so its existence does not leak."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from dlp import services
from dlp.downloads import original_response
from dlp.models import Exemption, QuarantinedMessage, Rule

from .serializers import ExemptionSerializer, QuarantinedDetailSerializer, QuarantinedSerializer, RuleSerializer

LEVEL_PARAMS = [
    OpenApiParameter("level", str, enum=["gateway", "domain", "user"], description="Only this level."),
    OpenApiParameter("domain", str, description="Only this domain's."),
    OpenApiParameter("user", str, description="Only this user's."),
]


class LevelFiltered:
    def get_queryset(self):
        rows = super().get_queryset().select_related("domain", "user")
        query = self.request.query_params
        level = query.get("level")
        if level == "gateway":
            rows = rows.filter(domain=None, user=None)
        elif level == "domain":
            rows = rows.filter(domain__isnull=False)
        elif level == "user":
            rows = rows.filter(user__isnull=False)
        if query.get("domain"):
            rows = rows.filter(domain__name=query["domain"].strip().lower())
        if query.get("user"):
            rows = rows.filter(user__email=query["user"].strip().lower())
        return rows


@extend_schema_view(list=extend_schema(parameters=LEVEL_PARAMS))
@extend_schema(tags=["dlp"])
class RuleViewSet(LevelFiltered, viewsets.ModelViewSet):
    """DLP rules at the gateway level (no domain, no user), a domain's or a user's."""

    queryset = Rule.objects.all()
    serializer_class = RuleSerializer


@extend_schema_view(list=extend_schema(parameters=LEVEL_PARAMS))
@extend_schema(tags=["dlp"])
class ExemptionViewSet(LevelFiltered, viewsets.ModelViewSet):
    """A domain or user exempt from an inherited rule (when the rule allows it)."""

    queryset = Exemption.objects.all()
    serializer_class = ExemptionSerializer


@extend_schema(tags=["dlp"], responses=OpenApiTypes.OBJECT)
class EffectiveRules(APIView):
    """The rules that apply to mail from an address, where each comes from,
    what was exempted, and exemptions refused."""

    def get(self, request, address):
        effective = services.rules_for(address)
        return Response(
            {
                "rules": [
                    {"name": r.name, "action": r.action, "origin": effective.origin[r.name]} for r in effective.rules
                ],
                "exempted": effective.exempted,
                "refused": [{"level": lvl, "rule": name, "reason": why} for lvl, name, why in effective.refused],
            }
        )


class MayAct(permissions.BasePermission):
    def has_object_permission(self, request, view, obj):
        return services.may_act(request.user, obj)


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=QuarantinedMessage.Status.values, description="Only this status.")
        ]
    )
)
@extend_schema(tags=["dlp"])
class QuarantineViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """Quarantined messages: view (recorded), download the original, release, delete."""

    queryset = QuarantinedMessage.objects.select_related("message")
    permission_classes = [permissions.IsAuthenticated, MayAct]

    def get_queryset(self):
        rows = super().get_queryset()
        wanted = self.request.query_params.get("status")
        if wanted:
            rows = rows.filter(status=wanted)
        return services.visible_to(self.request.user, rows)

    def get_serializer_class(self):
        return QuarantinedDetailSerializer if self.action == "retrieve" else QuarantinedSerializer

    def retrieve(self, request, *args, **kwargs):
        row = self.get_object()
        services.viewed(row, services.who(request.user))
        return Response(self.get_serializer(row).data)

    @extend_schema(request=None, responses={202: QuarantinedSerializer, 409: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"])
    def release(self, request, pk=None):
        """Let the message go on through the pipeline after DLP (once)."""
        try:
            row = services.release(self.get_object(), services.who(request.user))
        except services.NotHeld as error:
            return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
        return Response(QuarantinedSerializer(row).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={204: None, 409: OpenApiTypes.OBJECT})
    def destroy(self, request, *args, **kwargs):
        """Delete the message: it is never sent and its bytes are removed."""
        try:
            services.delete(self.get_object(), services.who(request.user))
        except services.NotHeld as error:
            return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        responses={(200, "message/rfc822"): OpenApiResponse(OpenApiTypes.BINARY, description="As received.")}
    )
    @action(detail=True)
    def download(self, request, pk=None):
        """The original message, as received."""
        return original_response(self.get_object(), request.user)
