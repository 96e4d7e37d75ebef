"""The secure inbox through the API, with the same rules as the pages: a
user reads and answers their own messages only (another's is not found);
senders revoke what they sent, admins anything. The quarantine's actions
are in the DLP API (/api/dlp/quarantine/)."""

from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from portal import compose, services
from portal.models import InboxMessage


class InboxItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = InboxMessage
        fields = ["id", "sender", "subject", "received_at", "expires_at", "read_at", "size"]


class SentItemSerializer(serializers.ModelSerializer):
    recipient = serializers.CharField(source="recipient.email")

    class Meta:
        model = InboxMessage
        fields = ["id", "recipient", "subject", "received_at", "expires_at", "read_at", "revoked_at", "revoked_by"]


class ReplySerializer(serializers.Serializer):
    text = serializers.CharField(max_length=100_000)


class WriteSerializer(ReplySerializer):
    to = serializers.EmailField()
    subject = serializers.CharField(max_length=200)


def _sent(message):
    return {"queue_id": message.queue_id}


def _too_many():
    return Response({"detail": "too many messages; try again later"}, status=status.HTTP_429_TOO_MANY_REQUESTS)


@extend_schema(tags=["portal"])
class InboxViewSet(viewsets.ReadOnlyModelViewSet):
    """The caller's secure inbox: list, read (marks it read), attachments, reply, write."""

    serializer_class = InboxItemSerializer
    permission_classes = [permissions.IsAuthenticated]

    def get_queryset(self):
        return services.inbox_of(self.request.user)

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def retrieve(self, request, *args, **kwargs):
        item = self.get_object()
        opened = services.open_message(item)
        services.mark_read(item, request.user.email or request.user.username)
        return Response(
            {
                **InboxItemSerializer(item).data,
                "headers": opened.headers,
                "text": opened.text,
                "html": opened.html,
                "attachments": [vars(a) for a in opened.attachments],
            }
        )

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY)})
    @action(detail=True, url_path=r"attachments/(?P<index>\d+)")
    def attachment(self, request, pk=None, index=None):
        try:
            name, data = services.attachment(self.get_object(), int(index))
        except IndexError:
            raise Http404 from None
        return download_response(name, data)

    @extend_schema(request=ReplySerializer, responses={202: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"])
    def reply(self, request, pk=None):
        data = ReplySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            sent = services.reply(request.user, self.get_object(), data.validated_data["text"])
        except compose.TooManyReplies:
            return _too_many()
        return Response(_sent(sent), status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=WriteSerializer, responses={202: OpenApiTypes.OBJECT})
    @action(detail=False, methods=["post"])
    def write(self, request):
        data = WriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            sent = services.write(request.user, values["to"], values["subject"], values["text"])
        except ValueError:
            return Response({"to": ["You can only write to those who sent you secure mail."]}, status=400)
        except compose.TooManyReplies:
            return _too_many()
        return Response(_sent(sent), status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=["portal"])
class SentViewSet(viewsets.ReadOnlyModelViewSet):
    """Secure inbox messages the caller sent (all of them for admins); revoke one."""

    serializer_class = SentItemSerializer
    permission_classes = [permissions.IsAuthenticated]

    def get_queryset(self):
        rows = InboxMessage.objects.select_related("recipient")
        if self.request.user.is_staff:
            return rows
        return rows.filter(pk__in=[r.pk for r in rows.filter(sender=(self.request.user.email or "").lower())
                                   if services.may_revoke(self.request.user, r)])  # fmt: skip

    @extend_schema(request=None, responses={200: SentItemSerializer})
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        item = get_object_or_404(self.get_queryset(), pk=pk)
        services.revoke(item, request.user.email or request.user.username)
        item.refresh_from_db()
        return Response(SentItemSerializer(item).data)


def download_response(name, data):
    # Never rendered by the browser on our origin: always a download of opaque bytes.
    response = HttpResponse(data, content_type="application/octet-stream")
    response["Content-Disposition"] = content_disposition_header(True, name.replace("/", "_") or "attachment")
    response["Cache-Control"] = "no-store"
    return response
