"""Settings through the API: each level's own settings (global, a domain, a
user), the effective settings of any address or domain with their origins,
and the list of settings that exist."""

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from gateway.policy import service
from gateway.policy.definitions import DEFINITIONS

from .serializers import (
    DefinitionSerializer,
    EffectiveSettingSerializer,
    SettingSerializer,
    SettingValueSerializer,
)

KEY = OpenApiParameter("key", OpenApiTypes.STR, OpenApiParameter.PATH, enum=sorted(DEFINITIONS))
DOMAIN = OpenApiParameter("name", OpenApiTypes.STR, OpenApiParameter.PATH, description="example.com or *.example.com")
EMAIL = OpenApiParameter("email", OpenApiTypes.STR, OpenApiParameter.PATH, description="an email address")


def effective_rows(effective):
    return [
        {"key": key, "value": service.shown_value(key, e.value), "origin": e.origin}
        for key, e in sorted(effective.items())
    ]


def setting_error(error):
    return serializers.ValidationError({"value": [str(error)]})


class LevelSettings(viewsets.GenericViewSet):
    """The settings set at one level. Anything not listed inherits."""

    serializer_class = SettingSerializer
    pagination_class = None
    lookup_field = "key"

    def scope(self, create=False):
        raise NotImplementedError

    def find_scope(self, create=False):
        try:
            return self.scope(create=create)
        except service.SettingError as error:
            raise Http404(str(error)) from None

    def list(self, request, **kwargs):
        own = service.own_settings(self.find_scope())
        rows = [{"key": k, "value": service.shown_value(k, v)} for k, v in own.items()]
        return Response(SettingSerializer(rows, many=True).data)

    @extend_schema(responses={200: SettingSerializer, 201: SettingSerializer})
    def create(self, request, **kwargs):
        """Set a setting at this level (201 when it was not set here before)."""
        incoming = SettingSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        key = incoming.validated_data["key"]
        scope = self.find_scope(create=True)
        existed = key in service.own_settings(scope)
        value = self.store(scope, key, incoming.validated_data["value"])
        code = status.HTTP_200_OK if existed else status.HTTP_201_CREATED
        return Response({"key": key, "value": service.shown_value(key, value)}, status=code)

    def retrieve(self, request, key, **kwargs):
        try:
            value = service.get_setting(self.find_scope(), key)
        except service.SettingError as error:
            raise Http404(str(error)) from None
        return Response({"key": key, "value": service.shown_value(key, value)})

    @extend_schema(request=SettingValueSerializer, responses=SettingSerializer)
    def update(self, request, key, **kwargs):
        """Set (or change) this setting at this level."""
        incoming = SettingValueSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        if key not in DEFINITIONS:
            raise Http404(f"unknown setting {key!r}")
        value = self.store(self.find_scope(create=True), key, incoming.validated_data["value"])
        return Response({"key": key, "value": service.shown_value(key, value)})

    def destroy(self, request, key, **kwargs):
        """Unset this setting at this level, so it inherits again."""
        if key not in DEFINITIONS or not service.unset_setting(self.find_scope(), key):
            raise Http404(f"{key} is not set at this level")
        return Response(status=status.HTTP_204_NO_CONTENT)

    def store(self, scope, key, value):
        try:
            return service.set_setting(scope, key, value)
        except service.SettingError as error:
            raise setting_error(error) from None


@extend_schema_view(
    retrieve=extend_schema(parameters=[KEY]),
    update=extend_schema(parameters=[KEY]),
    destroy=extend_schema(parameters=[KEY]),
)
@extend_schema(tags=["settings"])
class GlobalSettings(LevelSettings):
    def scope(self, create=False):
        return service.GLOBAL


@extend_schema_view(
    list=extend_schema(parameters=[DOMAIN]),
    create=extend_schema(parameters=[DOMAIN]),
    retrieve=extend_schema(parameters=[DOMAIN, KEY]),
    update=extend_schema(parameters=[DOMAIN, KEY]),
    destroy=extend_schema(parameters=[DOMAIN, KEY]),
)
@extend_schema(tags=["domains"])
class DomainSettings(LevelSettings):
    """A domain's own settings. The domain must exist."""

    def scope(self, create=False):
        return service.domain_scope(self.kwargs["name"])


@extend_schema_view(
    list=extend_schema(parameters=[EMAIL]),
    create=extend_schema(parameters=[EMAIL]),
    retrieve=extend_schema(parameters=[EMAIL, KEY]),
    update=extend_schema(parameters=[EMAIL, KEY]),
    destroy=extend_schema(parameters=[EMAIL, KEY]),
)
@extend_schema(tags=["users"])
class UserSettings(LevelSettings):
    """A user's own settings. Setting one for a new address makes it a user."""

    def scope(self, create=False):
        return service.user_scope(self.kwargs["email"], create=create)


@extend_schema(
    tags=["settings"],
    parameters=[
        OpenApiParameter(
            "name", OpenApiTypes.STR, OpenApiParameter.PATH, description="an email address or a domain name"
        )
    ],
    responses=EffectiveSettingSerializer(many=True),
)
class EffectiveSettings(APIView):
    """Every setting's effective value for an address or a domain, and where
    it comes from. The address or domain need not exist yet: this is what
    mail to or from it would get."""

    def get(self, request, name):
        try:
            effective = service.effective_for_name(name)
        except service.SettingError as error:
            raise serializers.ValidationError({"name": [str(error)]}) from None
        return Response(EffectiveSettingSerializer(effective_rows(effective), many=True).data)


KIND_NAMES = {str: "text", bool: "boolean", int: "integer"}


@extend_schema(tags=["settings"], responses=DefinitionSerializer(many=True))
class Definitions(APIView):
    """The settings that exist, with their choices and factory defaults."""

    def get(self, request):
        rows = [
            {
                "key": d.key,
                "kind": KIND_NAMES[d.kind],
                "choices": list(d.choices),
                "default": d.default,
                "help": d.help,
            }
            for d in sorted(DEFINITIONS.values(), key=lambda d: d.key)
        ]
        return Response(DefinitionSerializer(rows, many=True).data)
