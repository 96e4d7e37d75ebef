"""Domains, users and messages through the API. Staff only (the project's
default permission); reading raw bytes needs its own permission too."""

from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from gateway.models import Domain, MailUser, Message
from gateway.policy import service
from gateway.raw_download import can_download_raw, raw_response

from .serializers import (
    DomainSerializer,
    EffectiveSettingSerializer,
    MailUserSerializer,
    MessageDetailSerializer,
    MessageSerializer,
    RequeueSerializer,
)
from .settings_views import effective_rows

# Names hold dots and users hold @: match anything up to the next slash.
NAME_IN_PATH = r"[^/]+"


class PolicyWrites:
    """Each write in one transaction with the policy epoch's bump (a signal
    of the save): committed apart, a message processed in between would
    still see the old policy in a process that cached it."""

    def perform_create(self, serializer):
        with transaction.atomic():
            super().perform_create(serializer)

    def perform_update(self, serializer):
        with transaction.atomic():
            super().perform_update(serializer)

    def perform_destroy(self, instance):
        with transaction.atomic():
            super().perform_destroy(instance)


@extend_schema(tags=["domains"])
class DomainViewSet(PolicyWrites, viewsets.ModelViewSet):
    """Mail domains. Internal ones are the organisation's own."""

    queryset = Domain.objects.all()
    serializer_class = DomainSerializer
    lookup_field = "name"
    lookup_value_regex = NAME_IN_PATH

    @extend_schema(responses=EffectiveSettingSerializer(many=True))
    @action(detail=True, pagination_class=None)
    def effective(self, request, name):
        """Every setting's effective value for addresses at this domain, with its origin."""
        domain = self.get_object()
        return Response(effective_rows(service.effective_for(service.Scope(domain=domain))))


@extend_schema_view(list=extend_schema(parameters=[OpenApiParameter("domain", str, description="Only this domain.")]))
@extend_schema(tags=["users"])
class MailUserViewSet(PolicyWrites, viewsets.ModelViewSet):
    """Email addresses Lockpost knows, internal or external. Mail creates them when first seen."""

    queryset = MailUser.objects.all()
    serializer_class = MailUserSerializer
    lookup_field = "email"
    lookup_value_regex = NAME_IN_PATH

    def get_queryset(self):
        users = super().get_queryset()
        domain = self.request.query_params.get("domain")
        if domain:
            users = users.filter(email__iendswith="@" + domain.strip().lower())
        return users

    def get_object(self):
        # Addresses are stored in lower case; accept them as typed.
        self.kwargs["email"] = self.kwargs["email"].strip().lower()
        return super().get_object()

    @extend_schema(responses=EffectiveSettingSerializer(many=True))
    @action(detail=True, pagination_class=None)
    def effective(self, request, email):
        """Every setting's effective value for this user, with its origin."""
        user = self.get_object()
        return Response(effective_rows(service.effective_for(service.Scope(user=user))))


class CanDownloadRaw(permissions.BasePermission):
    """Raw bytes may hold what the gateway was asked to protect."""

    def has_permission(self, request, view):
        return can_download_raw(request.user)


@extend_schema_view(
    list=extend_schema(
        parameters=[OpenApiParameter("state", str, enum=Message.State.values, description="Only this state.")]
    )
)
@extend_schema(tags=["messages"])
class MessageViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Messages in the spool: envelope, state, recipients, outputs and trail."""

    queryset = Message.objects.all()
    lookup_field = "queue_id"

    def get_queryset(self):
        messages = super().get_queryset()
        if self.action == "retrieve":
            messages = messages.prefetch_related("recipients", "deliveries", "trail")
        state = self.request.query_params.get("state")
        if state:
            messages = messages.filter(state=state)
        return messages

    def get_serializer_class(self):
        if self.action == "retrieve":
            return MessageDetailSerializer
        if self.action == "requeue":
            return RequeueSerializer
        return MessageSerializer

    @extend_schema(request=None, responses={202: RequeueSerializer})
    @action(detail=True, methods=["post"])
    def requeue(self, request, queue_id):
        """Process the message again, or retry its deferred deliveries now.
        Recipients already delivered to get no second copy."""
        from gateway.worker import requeue  # the worker loads the pipeline; only needed here

        message = self.get_object()
        outcome = requeue(message.pk, by=request.user.get_username())
        return Response({"queue_id": message.queue_id, "outcome": outcome}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        responses={
            (200, "message/rfc822"): OpenApiResponse(OpenApiTypes.BINARY, description="The bytes as received."),
        }
    )
    @action(detail=True, permission_classes=[permissions.IsAdminUser, CanDownloadRaw])
    def raw(self, request, queue_id):
        """The message exactly as received. Needs the permission gateway.view_rawmessage."""
        return raw_response(self.get_object())
