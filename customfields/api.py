"""``/api/v1/custom-fields/`` (SPEC §7) and the DRF helpers other apps use for custom fields.

Definitions: any authenticated user may list and read them (forms need them; only managers see
inactive ones); creating and changing need the manage permission
(``customfields.permissions``). Every write goes through ``customfields.services``.

Definitions are never deleted, because records keep their values (SPEC §6): ``DELETE`` answers
405 and names ``POST …/{id}/deactivate/``, which hides the field; ``POST …/{id}/activate/`` brings
it back. (A ``DELETE`` that only deactivated left the resource readable afterwards, which is not
what ``DELETE`` promises a client.)

For record APIs (leads, deals, people, organizations):

- ``CustomFieldValuesField(entity_type="lead")`` — the serializer field of
  ``custom_field_values``: outputs the active fields only (one query per response) and accepts
  an object; the service validates it with ``services.validate_values``.
- ``custom_field_schema("lead")`` — a drf-spectacular schema documenting the ``cf_`` filters of
  the list action.
"""

from __future__ import annotations

import contextlib

import django_filters
from django.db import DatabaseError
from drf_spectacular.extensions import OpenApiSerializerExtension, OpenApiSerializerFieldExtension
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import exceptions, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.schemas.inspectors import ViewInspector
from rest_framework.settings import api_settings

from crm.filters import StrictBooleanFilter
from crm.openapi import InputSerializer
from customfields import selectors, services, values
from customfields.filters import OPENAPI_DESCRIPTION, openapi_parameters
from customfields.models import (
    CHOICE_TYPES,
    NAME_MAX_LENGTH,
    OPTION_MAX_LENGTH,
    RESERVED_NAMES,
    CustomFieldDefinition,
    EntityType,
    FieldType,
)
from customfields.permissions import can_manage_custom_fields

# --- definitions ----------------------------------------------------------------------------


class CustomFieldSerializer(serializers.ModelSerializer):
    class Meta:
        model = CustomFieldDefinition
        fields = [
            "id",
            "entity_type",
            "name",
            "label",
            "type",
            "options",
            "is_required",
            "is_active",
            "display_order",
            "show_in_table",
            "help_text",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    options = serializers.ListField(child=serializers.CharField(), read_only=True)


class _OptionsField(serializers.ListField):
    child = serializers.CharField(max_length=OPTION_MAX_LENGTH)

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_empty", True)
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 200)
        super().__init__(**kwargs)


# The rules of ``models.validate_field_name`` as one pattern, for the schema and the input:
# lowercase letters, digits and single underscores from a letter on, no range-filter suffix,
# no reserved name.
_RESERVED = "|".join(sorted(RESERVED_NAMES))
NAME_REGEX = rf"^(?!(?:{_RESERVED})$)(?!.*_(?:min|max)$)[a-z](?:[a-z0-9]|_(?!_))*$"
NAME_MESSAGE = (
    "Use lowercase letters, digits and single underscores, starting with a letter (for example "
    "budget_range), not ending in _min or _max, and not a reserved name."
)


class CustomFieldCreateSerializer(InputSerializer):
    """Input of ``POST``: the shape only; the service checks options and uniqueness."""

    entity_type = serializers.ChoiceField(choices=EntityType.choices)
    name = serializers.RegexField(
        NAME_REGEX,
        max_length=NAME_MAX_LENGTH,
        trim_whitespace=False,
        error_messages={"invalid": NAME_MESSAGE},
    )
    label = serializers.CharField(max_length=100)
    type = serializers.ChoiceField(choices=FieldType.choices)
    options = _OptionsField()
    is_required = serializers.BooleanField(required=False, default=False)
    show_in_table = serializers.BooleanField(required=False, default=False)
    help_text = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")
    display_order = serializers.IntegerField(required=False, min_value=0, max_value=2**31 - 1)


class CustomFieldUpdateSerializer(InputSerializer):
    """Input of ``PUT``/``PATCH``. ``name``, ``entity_type`` and ``type`` may be sent (a PUT
    round-trip) but not changed; ``is_active`` toggles like activate/deactivate."""

    entity_type = serializers.ChoiceField(choices=EntityType.choices, required=False)
    name = serializers.CharField(max_length=NAME_MAX_LENGTH, required=False)
    type = serializers.ChoiceField(choices=FieldType.choices, required=False)
    label = serializers.CharField(max_length=100)
    options = _OptionsField()
    is_required = serializers.BooleanField(required=False)
    is_active = serializers.BooleanField(required=False)
    show_in_table = serializers.BooleanField(required=False)
    help_text = serializers.CharField(required=False, allow_blank=True, max_length=500)
    display_order = serializers.IntegerField(required=False, min_value=0, max_value=2**31 - 1)


# More names than any type can have fields (each type has a few dozen at most); a longer list
# is refused before any name is looked up.
NAMES_MAX = 500


@extend_schema_field(
    {
        "type": "array",
        # No NUL character (refused in every text the API takes, crm.rest).
        "items": {
            "type": "string",
            "minLength": 1,
            "maxLength": NAME_MAX_LENGTH,
            "pattern": "^[^\\x00]*$",
        },
        "uniqueItems": True,
        "maxItems": NAMES_MAX,
    }
)
class _NamesField(serializers.ListField):
    child = serializers.CharField(max_length=NAME_MAX_LENGTH, trim_whitespace=False)

    def __init__(self, **kwargs):
        super().__init__(max_length=NAMES_MAX, **kwargs)


class CustomFieldReorderSerializer(InputSerializer):
    entity_type = serializers.ChoiceField(choices=EntityType.choices)
    names = _NamesField(
        help_text="Field names, each once; a name that is not a field of the type is a 404."
    )


class CustomFieldRequestSchema(OpenApiSerializerExtension):
    """Options in the request schema: each once; on create, at least one for a dropdown or a
    multi-select and none for the other types (on update the stored type decides: 409)."""

    target_class = "customfields.api.CustomFieldCreateSerializer"
    match_subclasses = False

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_basic_serializer(self.target, direction)
        schema["properties"]["options"]["uniqueItems"] = True
        if not isinstance(self.target, CustomFieldCreateSerializer):
            return schema
        # Patterns, not enums: drf-spectacular would turn enums into (colliding) components.
        choice = "|".join(sorted(CHOICE_TYPES))
        other = "|".join(sorted(set(FieldType.values) - CHOICE_TYPES))
        cases = [
            {
                "required": ["options"],
                "properties": {"type": {"pattern": f"^({choice})$"}, "options": {"minItems": 1}},
            },
            {"properties": {"type": {"pattern": f"^({other})$"}, "options": {"maxItems": 0}}},
        ]
        return {**schema, "anyOf": cases}


class CustomFieldUpdateRequestSchema(CustomFieldRequestSchema):
    target_class = "customfields.api.CustomFieldUpdateSerializer"


class CustomFieldFilter(django_filters.FilterSet):
    entity_type = django_filters.ChoiceFilter(choices=EntityType.choices)
    type = django_filters.ChoiceFilter(choices=FieldType.choices)
    is_active = StrictBooleanFilter()
    show_in_table = StrictBooleanFilter()

    class Meta:
        model = CustomFieldDefinition
        fields = ["entity_type", "type", "is_active", "show_in_table"]


class CanManageCustomFieldsOrReadOnly(permissions.BasePermission):
    message = "You do not have permission to manage custom fields."

    def has_permission(self, request, view) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return can_manage_custom_fields(
            request.user, "add" if view.action == "create" else "change"
        )


@extend_schema_view(
    list=extend_schema(summary="List custom field definitions"),
    retrieve=extend_schema(summary="Get a custom field definition"),
    create=extend_schema(
        summary="Define a custom field",
        request=CustomFieldCreateSerializer,
        responses={201: CustomFieldSerializer},
    ),
    update=extend_schema(
        summary="Change a custom field (name, entity type and type are immutable)",
        request=CustomFieldUpdateSerializer,
        responses=CustomFieldSerializer,
    ),
    partial_update=extend_schema(
        summary="Change some attributes of a custom field",
        request=CustomFieldUpdateSerializer,
        responses=CustomFieldSerializer,
    ),
)
class CustomFieldViewSet(viewsets.GenericViewSet):
    serializer_class = CustomFieldSerializer
    permission_classes = [permissions.IsAuthenticated, CanManageCustomFieldsOrReadOnly]
    filterset_class = CustomFieldFilter
    search_fields = ["name", "label"]
    ordering_fields = ["display_order", "name", "label", "entity_type", "created_at"]
    ordering = ["entity_type", "display_order", "name"]

    def get_queryset(self):
        return selectors.field_list(user=self.request.user)

    def get_object(self) -> CustomFieldDefinition:
        field = selectors.field_get(user=self.request.user, field_id=self.kwargs["pk"])
        self.check_object_permissions(self.request, field)
        return field

    def _respond(self, field: CustomFieldDefinition, status_code: int = status.HTTP_200_OK):
        return Response(CustomFieldSerializer(field).data, status=status_code)

    def list(self, request):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        serializer = CustomFieldSerializer(page, many=True)
        return self.get_paginated_response(serializer.data)

    def retrieve(self, request, pk=None):
        return self._respond(self.get_object())

    def create(self, request):
        serializer = CustomFieldCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        field = services.custom_field_create(by=request.user, **serializer.validated_data)
        return self._respond(field, status.HTTP_201_CREATED)

    def _update(self, request, *, partial: bool):
        field = self.get_object()
        serializer = CustomFieldUpdateSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        field = services.custom_field_update(
            by=request.user, field=field, **serializer.validated_data
        )
        return self._respond(field)

    def update(self, request, pk=None):
        return self._update(request, partial=False)

    def partial_update(self, request, pk=None):
        return self._update(request, partial=True)

    def http_method_not_allowed(self, request, *args, **kwargs):
        if request.method == "DELETE":
            raise exceptions.MethodNotAllowed(
                "DELETE",
                detail="Custom fields are never deleted, because records keep their values; "
                "POST to …/deactivate/ to hide one.",
            )
        return super().http_method_not_allowed(request, *args, **kwargs)

    @extend_schema(summary="Activate a custom field", request=None)
    @action(detail=True, methods=["post"])
    def activate(self, request, pk=None):
        field = services.custom_field_activate(by=request.user, field=self.get_object())
        return self._respond(field)

    @extend_schema(summary="Deactivate a custom field", request=None)
    @action(detail=True, methods=["post"])
    def deactivate(self, request, pk=None):
        field = services.custom_field_deactivate(by=request.user, field=self.get_object())
        return self._respond(field)

    @extend_schema(
        summary="Order the fields of an entity type (the named ones first, in this order)",
        request=CustomFieldReorderSerializer,
        responses=CustomFieldSerializer(many=True),
    )
    @action(detail=False, methods=["post"], filter_backends=[], pagination_class=None)
    def reorder(self, request):
        serializer = CustomFieldReorderSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = services.custom_field_reorder(by=request.user, **serializer.validated_data)
        return Response(CustomFieldSerializer(fields, many=True).data)


# --- helpers for the record APIs ------------------------------------------------------------


class CustomFieldValuesField(serializers.JSONField):
    """``custom_field_values`` of a record: an object keyed by field name.

    Output holds the active fields only (inactive values stay stored but hidden); the active
    definitions are read once per response and shared through the serializer context. Input
    must be an object; validating the values is the service's job (``validate_values``).
    """

    def __init__(self, *, entity_type: str, **kwargs):
        self.entity_type = entity_type
        kwargs.setdefault("required", False)
        kwargs.setdefault(
            "help_text",
            "Custom field values keyed by field name; see /api/v1/custom-fields/.",
        )
        super().__init__(**kwargs)

    def _definitions(self) -> list[CustomFieldDefinition]:
        cache_key = f"_customfields_active_{self.entity_type}"
        context = self.context if isinstance(self.context, dict) else None
        if context is not None and cache_key in context:
            return context[cache_key]
        definitions = selectors.active_fields(self.entity_type)
        if context is not None:
            context[cache_key] = definitions
        return definitions

    def to_representation(self, value):
        return selectors.active_values(
            self.entity_type,
            value if isinstance(value, dict) else {},
            definitions=self._definitions(),
        )

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError("Expected an object keyed by custom field name.")
        return super().to_internal_value(data)


def _value_schema(definition: CustomFieldDefinition) -> dict:
    """The JSON schema of one custom field's value in a request (``customfields.values``);
    null (or a blank text, an empty list) clears it."""
    kinds = {
        FieldType.TEXT: {"type": "string", "maxLength": values.TEXT_MAX_LENGTH},
        FieldType.LONG_TEXT: {"type": "string", "maxLength": values.LONG_TEXT_MAX_LENGTH},
        FieldType.NUMBER: {
            "type": "integer",
            "minimum": -values.NUMBER_LIMIT,
            "maximum": values.NUMBER_LIMIT,
        },
        FieldType.DECIMAL: {"type": "string", "format": "decimal"},
        FieldType.DATE: {"type": "string", "format": "date"},
        FieldType.BOOLEAN: {"type": "boolean"},
        FieldType.DROPDOWN: {"type": "string", "enum": list(definition.options)},
        FieldType.MULTI_SELECT: {
            "type": "array",
            "items": {"type": "string", "enum": list(definition.options)},
        },
        FieldType.URL: {"type": "string", "format": "uri", "maxLength": values.URL_MAX_LENGTH},
        FieldType.EMAIL: {
            "type": "string",
            "format": "email",
            "maxLength": values.EMAIL_MAX_LENGTH,
        },
    }
    schema = {**kinds.get(definition.type, {}), "nullable": True}
    label = f"{definition.label} ({definition.get_type_display().lower()})"
    schema["description"] = f"{label}; required." if definition.is_required else label
    return schema


class CustomFieldValuesFieldExtension(OpenApiSerializerFieldExtension):
    """``custom_field_values`` in the schema: in a request, an object of the entity type's
    active fields (read when the schema is generated), each typed; any other key is refused."""

    target_class = "customfields.api.CustomFieldValuesField"

    def map_serializer_field(self, auto_schema, direction):
        schema = {"type": "object", "description": self.target.help_text}
        if direction == "response":
            return {**schema, "additionalProperties": True}
        properties = {}
        # A schema generated without a migrated database just lacks the fields.
        with contextlib.suppress(DatabaseError):
            properties = {
                definition.name: _value_schema(definition)
                for definition in selectors.active_fields(self.target.entity_type)
            }
        return {**schema, "properties": properties, "additionalProperties": False}


def custom_field_schema(entity_type: str) -> ViewInspector:
    """The API's schema class (``DEFAULT_SCHEMA_CLASS``, drf-spectacular) extended to document
    the ``cf_`` filters of the active fields on the list action, read when the schema is
    generated::

        class LeadViewSet(viewsets.ModelViewSet):
            schema = custom_field_schema("lead")
    """

    class CustomFieldFilterSchema(api_settings.DEFAULT_SCHEMA_CLASS):
        def _is_filtered_list(self) -> bool:
            # The list itself, not any action answering a list (a lead's history is one).
            return self._is_list_view() and getattr(self.view, "action", "list") == "list"

        def get_override_parameters(self):
            parameters = list(super().get_override_parameters())
            if self._is_filtered_list():
                # A schema generated without a migrated database just lacks the cf_ filters.
                with contextlib.suppress(DatabaseError):
                    parameters += openapi_parameters(entity_type)
            return parameters

        def get_description(self):
            description = super().get_description() or ""
            if self._is_filtered_list():
                description = f"{description}\n\n{OPENAPI_DESCRIPTION}".strip()
            return description

    return CustomFieldFilterSchema()
