"""REST API of the crm core (SPEC §7): auth, users, people, organizations.

Thin: serializers describe input and output; writes call crm.services, reads crm.selectors.
"""

from __future__ import annotations

import copy
import datetime
import json
import operator

from django.contrib.auth import authenticate
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.http import QueryDict
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import ISO_8601, generics, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.fields import SkipField
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.relations import PKOnlyObject
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from crm import assignment, permissions, selectors, services, tokens
from crm.errors import Conflict, NotAuthenticated, NotFound, PermissionDenied, ValidationFailed
from crm.filters import OrganizationFilter, PersonFilter
from crm.models import (
    ORGANIZATION_FIELDS,
    PERSON_FIELDS,
    ApiToken,
    ImportJob,
    Organization,
    Person,
    User,
)
from crm.openapi import InputSerializer, ModelInputSerializer
from crm.records import exports as export_csv
from crm.records import imports as import_engine
from crm.records import merge as merging
from crm.records import privacy as privacy_hooks
from crm.records import registry
from crm.rest import TEXT_MAX_LENGTH, FilterBackend, error_body
from customfields.api import CustomFieldValuesField, custom_field_schema


# --- users and auth ---------------------------------------------------------------------------
class UserSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="display_name", read_only=True)
    role = serializers.CharField(read_only=True)

    class Meta:
        model = User
        fields = ["id", "username", "name", "role"]


class MeSerializer(UserSerializer):
    class Meta(UserSerializer.Meta):
        fields = [*UserSerializer.Meta.fields, "email", "is_superuser"]


class TokenRequestSerializer(InputSerializer):
    # As long as a username can be (Django's 150), and a password far longer than any real
    # one: no one makes the server hash a megabyte (Django's hashers take any length).
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(
        style={"input_type": "password"}, trim_whitespace=False, max_length=4096
    )
    name = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=tokens.NAME_MAX,
        help_text="What the token is for (default “API”); shown in your list of tokens.",
    )


class TokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="The key: shown this once, keep it secret.")
    id = serializers.IntegerField()
    name = serializers.CharField()


class ApiTokenSerializer(serializers.ModelSerializer):
    current = serializers.SerializerMethodField(
        help_text="True for the token this request is authenticated with."
    )

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "last_used_at", "current"]
        read_only_fields = fields

    def get_current(self, token: ApiToken) -> bool:
        request = self.context.get("request")
        return getattr(getattr(request, "auth", None), "pk", None) == token.pk


class ObtainTokenView(APIView):
    """Exchange a username and password for a new API token (its key is shown once).

    Repeated failures lock the client out like the login page does (429)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_scope = "login"

    @extend_schema(
        request=TokenRequestSerializer,
        responses={
            200: TokenResponseSerializer,
            401: OpenApiResponse(description="Unable to log in with these credentials."),
        },
    )
    def post(self, request):
        data = TokenRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        # Django's request, not DRF's: sign-in protection (django-axes, crm.auth) marks it
        # when the client is locked out, and its middleware answers 429.
        user = authenticate(
            request._request,
            username=data.validated_data["username"],
            password=data.validated_data["password"],
        )
        if user is None or not user.is_active:
            raise NotAuthenticated(
                "Unable to log in with these credentials.",
                code="invalid_credentials",
                details={"non_field_errors": ["Unable to log in with these credentials."]},
            )
        token, key = tokens.token_create(by=user, name=data.validated_data.get("name", ""))
        return Response({"token": key, "id": token.pk, "name": token.name})


class TokenListView(mixins.ListModelMixin, generics.GenericAPIView):
    """Your API tokens that still work (a password change ends the older ones)."""

    serializer_class = ApiTokenSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator: no user
            return ApiToken.objects.none()
        return tokens.token_list(user=self.request.user)

    def get(self, request):
        return self.list(request)


class TokenRevokeView(APIView):
    """Revoke one of your API tokens: the next request with it is refused (401)."""

    @extend_schema(responses={204: None})
    def delete(self, request, pk: int):
        tokens.token_revoke(by=request.user, token_id=pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    @extend_schema(responses=MeSerializer)
    def get(self, request):
        return Response(MeSerializer(request.user).data)


class DirectoryUserSerializer(UserSerializer):
    role = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="The user's role; null unless it is you or you are a manager or admin.",
    )

    def to_representation(self, instance):
        data = super().to_representation(instance)
        request = self.context.get("request")
        if not self.context.get("show_roles") and (request is None or request.user != instance):
            data["role"] = None
        return data


class UserViewSet(viewsets.ReadOnlyModelViewSet):
    """The users you may see, paginated (SPEC §7), for filters and assignment pickers.

    Managers and administrators see every active user with their role. Sales reps and
    analysts see the users the filters and pickers offer, by name (role null but their own).
    Viewers and users without a role see only themselves: they filter and assign nothing.
    (``crm.selectors.user_directory`` decides.)
    """

    serializer_class = DirectoryUserSerializer
    filter_backends: list = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema's introspection
            return User.objects.none()
        return selectors.user_directory(user=self.request.user)

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if getattr(self, "request", None) is not None and self.request.user.is_authenticated:
            context["show_roles"] = selectors.sees_user_roles(self.request.user)
        return context


# --- records ------------------------------------------------------------------------------------
def _custom_field_values(serializer: serializers.ModelSerializer, **kwargs) -> serializers.Field:
    # A record type's custom field entity type is its model name (lead, deal, person, …).
    return CustomFieldValuesField(entity_type=serializer.Meta.model._meta.model_name, **kwargs)


# (Comments, not docstrings: the schema would show a base class's docstring for every record.)
# A record as the API shows it: ``Meta.fields`` names ``id``, the record type's one field list
# and what its services keep, all read-only, with its active custom field values.
class RecordSerializer(serializers.ModelSerializer):
    # The fields are the same for every instance of a serializer class (read from the model
    # and Meta): built once, then copied (a quarter of building them, 2.5 ms for a lead).
    _built_fields: dict[type, dict] = {}

    def get_fields(self):
        built = RecordSerializer._built_fields.get(type(self))
        if built is None:
            built = super().get_fields()
            built["custom_field_values"] = _custom_field_values(self, read_only=True)
            RecordSerializer._built_fields[type(self)] = built
        return copy.deepcopy(built)

    # A list page serializes 50–200 records with one serializer: how to read each field is
    # worked out once (``_plan``) instead of going through DRF's generic attribute lookup for
    # every field of every record. The output is DRF's: a plain column is read as DRF reads
    # it and goes through the field's own ``to_representation``; a foreign key is its id
    # (DRF's primary-key optimisation); anything else takes DRF's way.
    def to_representation(self, instance):
        plan = self.__dict__.get("_plan")
        if plan is None:
            plan = self._plan = [_read_plan(field) for field in self._readable_fields]
        ret = {}
        for name, read, represent in plan:
            if read is None:  # DRF's own way, for this field
                try:
                    attribute = represent.get_attribute(instance)
                except SkipField:
                    continue
                check = attribute.pk if isinstance(attribute, PKOnlyObject) else attribute
                ret[name] = None if check is None else represent.to_representation(attribute)
                continue
            value = read(instance)
            ret[name] = value if value is None or represent is None else represent(value)
        return ret


def _read_plan(field: serializers.Field):
    """``(name, read, represent)`` for one output field: ``read(instance)`` gives the raw
    value and ``represent`` converts it (None: as it is); ``read`` None: DRF's way."""
    name = field.field_name
    parent_meta = getattr(field.parent, "Meta", None)
    model = getattr(parent_meta, "model", None)
    attrs = getattr(field, "source_attrs", None) or []
    if model is None or len(attrs) != 1:
        return name, None, field
    try:
        model_field = model._meta.get_field(attrs[0])
    except FieldDoesNotExist:
        return name, None, field
    if not model_field.concrete:
        return name, None, field
    if model_field.is_relation:
        if (
            isinstance(field, serializers.PrimaryKeyRelatedField)
            and field.pk_field is None
            and model_field.many_to_one
        ):
            return name, operator.attrgetter(model_field.attname), None
        return name, None, field
    return name, operator.attrgetter(model_field.attname), _represent(field)


def _represent(field: serializers.Field):
    """``field.to_representation``, or the same in fewer steps for ISO 8601 date-times: the
    time zone is looked up once per page instead of once per value (DRF asks for the active
    one for every date-time it writes). A value it does not cover goes to DRF's own."""
    if type(field) is not serializers.DateTimeField or getattr(field, "timezone", None):
        return field.to_representation
    if getattr(field, "format", api_settings.DATETIME_FORMAT).lower() != ISO_8601:
        return field.to_representation
    zone = field.default_timezone()
    if zone is None:
        return field.to_representation
    generic = field.to_representation

    def represent(value):
        if not isinstance(value, datetime.datetime) or value.tzinfo is None:
            return generic(value)
        try:
            text = value.astimezone(zone).isoformat()
        except OverflowError:
            return generic(value)
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return represent


# What a record's create and update take: ``Meta.fields`` names the record type's one field list
# (each field typed from its model field) and what its services take besides: the owner, custom
# field values (and per type, e.g. the assignee). No model validator runs here: the services
# validate and decide.
class RecordInputSerializer(ModelInputSerializer):
    owner = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True), required=False
    )

    class Meta:
        validators: list = []

    def get_fields(self):
        fields = super().get_fields()
        fields["custom_field_values"] = _custom_field_values(self, required=False)
        return fields

    def build_standard_field(self, field_name, model_field):
        field_class, kwargs = super().build_standard_field(field_name, model_field)
        if isinstance(model_field, models.TextField) and kwargs.get("max_length") is None:
            kwargs["max_length"] = TEXT_MAX_LENGTH  # a text column has no length of its own
        return field_class, kwargs


# --- people and organizations ------------------------------------------------------------------
class OrganizationSerializer(RecordSerializer):
    owner_name = serializers.CharField(source="owner.display_name", read_only=True, default="")

    class Meta:
        model = Organization
        fields = [
            "id",
            *ORGANIZATION_FIELDS,
            "owner",
            "owner_name",
            "custom_field_values",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class OrganizationInputSerializer(RecordInputSerializer):
    class Meta(RecordInputSerializer.Meta):
        model = Organization
        fields = [*ORGANIZATION_FIELDS, "owner", "custom_field_values"]


class PersonSerializer(RecordSerializer):
    full_name = serializers.CharField(read_only=True)
    organization_name = serializers.CharField(
        source="organization.name", read_only=True, default=""
    )
    owner_name = serializers.CharField(source="owner.display_name", read_only=True, default="")

    class Meta:
        model = Person
        fields = [
            "id",
            *PERSON_FIELDS,
            "full_name",
            "organization_name",
            "owner",
            "owner_name",
            "custom_field_values",
            "anonymized_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class PersonInputSerializer(RecordInputSerializer):
    class Meta(RecordInputSerializer.Meta):
        model = Person
        fields = [*PERSON_FIELDS, "owner", "custom_field_values"]


class AssignRequestSerializer(InputSerializer):
    """Body of every ``/assign/`` action: the new assignee (null: nobody). With the record's
    model in the context (``"model"``), a user who may not own such records is refused here,
    under this body's field name (the service refuses them too)."""

    user = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True),
        allow_null=True,
        help_text="The new assignee's user id; null unassigns.",
    )

    def validate_user(self, user):
        model = self.context.get("model")
        if model is not None:
            try:
                assignment.check_assignable(user, model, field="user")
            except ValidationFailed as exc:
                raise serializers.ValidationError(exc.details["user"]) from None
        return user


class ReasonRequestSerializer(InputSerializer):
    """Body of actions that need a reason (disqualify, lost)."""

    reason = serializers.CharField(max_length=TEXT_MAX_LENGTH)


class RecordViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """List/retrieve through selectors; create/update/delete through services.

    Subclasses name their selectors and services; nothing here knows a concrete model.
    """

    input_serializer_class: type[serializers.Serializer]
    filter_backends = [FilterBackend]

    def list_selector(self, user):  # pragma: no cover - abstract
        raise NotImplementedError

    def get_selector(self, user, pk, action):  # pragma: no cover - abstract
        raise NotImplementedError

    def create_service(self, user, data):  # pragma: no cover - abstract
        raise NotImplementedError

    def update_service(self, user, obj, data):  # pragma: no cover - abstract
        raise NotImplementedError

    def delete_service(self, user, obj):  # pragma: no cover - abstract
        raise NotImplementedError

    def get_queryset(self):
        return self.list_selector(self.request.user)

    def get_object(self):
        return self.get_selector(self.request.user, self.kwargs["pk"], "view")

    def retrieve(self, request, pk=None):
        obj = self.get_object()
        privacy_hooks.viewed(request.user, obj, channel="api")
        return self._respond(obj)

    def _respond(self, obj, code=status.HTTP_200_OK):
        return Response(self.get_serializer(obj).data, status=code)

    def create(self, request):
        model = self.get_queryset().model
        if not permissions.may_create(request.user, model):
            raise PermissionDenied(f"You may not create {model._meta.verbose_name_plural}.")
        data = self.input_serializer_class(data=request.data)
        data.is_valid(raise_exception=True)
        return self._respond(
            self.create_service(request.user, data.validated_data), status.HTTP_201_CREATED
        )

    def update(self, request, pk=None, partial=False):
        obj = self.get_selector(request.user, pk, "change")
        data = self.input_serializer_class(data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        return self._respond(self.update_service(request.user, obj, data.validated_data))

    def partial_update(self, request, pk=None):
        return self.update(request, pk, partial=True)

    def destroy(self, request, pk=None):
        obj = self.get_selector(request.user, pk, "delete")
        self.delete_service(request.user, obj)
        return Response(status=status.HTTP_204_NO_CONTENT)


# How many records one merge may fold into its survivor.


class MergeRequestSerializer(InputSerializer):
    survivor = serializers.UUIDField(help_text="The record to keep.")
    merged = serializers.ListField(
        child=serializers.UUIDField(),
        min_length=1,
        max_length=merging.MAX_RECORDS,
        help_text="The records to merge into it (soft-deleted afterwards, pointing at it).",
    )
    fields = serializers.DictField(
        child=serializers.UUIDField(),
        required=False,
        help_text="Per field, the id of the record (survivor or merged) to take its value "
        'from, e.g. {"name": "<id>", "cf_budget": "<id>"} (custom fields as cf_<name>). '
        "Fields left out take the newest non-empty value (the most recently updated record "
        "that has one).",
    )


class MergeableViewSet(RecordViewSet):
    """A record type that merges (issue 18): ``POST …/merge/``, and a merged-away record's
    ``GET …/{id}/`` answers 301 to the survivor (``Location``; the body in the error shape,
    code ``merged``, with the survivor's id in ``details.survivor``)."""

    merged_redirect = True  # crm.openapi documents the 301

    def merge_service(self, user, survivor, merged, fields):  # pragma: no cover - abstract
        raise NotImplementedError

    def retrieve(self, request, *args, **kwargs):
        try:
            obj = self.get_object()
        except NotFound:
            model = self.get_queryset().model
            survivor = merging.survivor_of(model, kwargs.get("pk"))
            if survivor is None or not permissions.can_view(request.user, survivor):
                raise
            noun = model._meta.verbose_name
            url = request.build_absolute_uri(self.reverse_action("detail", args=[survivor.pk]))
            body = error_body(
                request,
                code="merged",
                message=f"This {noun} was merged into {survivor.pk}; it lives on there.",
                details={"survivor": [str(survivor.pk)]},
            )
            return Response(
                body, status=status.HTTP_301_MOVED_PERMANENTLY, headers={"Location": url}
            )
        privacy_hooks.viewed(request.user, obj, channel="api")
        return self._respond(obj)

    def _merge_record(self, user, pk, field: str):
        model = self.get_queryset().model
        try:
            return self.get_selector(user, pk, "view")
        except NotFound:
            survivor = merging.survivor_of(model, pk)
            if survivor is not None and permissions.can_view(user, survivor):
                raise Conflict(
                    f"{pk} was already merged into {survivor.pk}.",
                    code="already_merged",
                    details={field: [f"Already merged into {survivor.pk}."]},
                ) from None
            noun = model._meta.verbose_name
            raise NotFound(
                f"No such {noun}: {pk}.", details={field: [f"No such {noun}."]}
            ) from None

    @action(detail=False, methods=["post"])
    def merge(self, request):
        model = self.get_queryset().model
        if not permissions.works_on(request.user, model):
            raise PermissionDenied(f"You may not merge {model._meta.verbose_name_plural}.")
        data = MergeRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        user = request.user
        survivor = self._merge_record(user, values["survivor"], "survivor")
        merged = [self._merge_record(user, pk, "merged") for pk in dict.fromkeys(values["merged"])]
        survivor = self.merge_service(user, survivor, merged, values.get("fields") or {})
        return self._respond(self.get_selector(user, survivor.pk, "view"))


@extend_schema(request=PersonInputSerializer, responses=PersonSerializer)
class PersonViewSet(MergeableViewSet):
    serializer_class = PersonSerializer
    input_serializer_class = PersonInputSerializer
    filterset_class = PersonFilter
    schema = custom_field_schema("person")

    def list_selector(self, user):
        return selectors.person_list(user=user)

    def get_selector(self, user, pk, action):
        return selectors.person_get(user=user, person_id=pk, action=action)

    def create_service(self, user, data):
        return services.person_create(by=user, **data)

    def update_service(self, user, obj, data):
        return services.person_update(by=user, person=obj, data=data)

    def delete_service(self, user, obj):
        services.person_delete(by=user, person=obj)

    @extend_schema(request=MergeRequestSerializer, responses=PersonSerializer)
    @action(detail=False, methods=["post"])
    def merge(self, request):
        """Merge people into one (issue 18): their leads, deals, activities and permissions
        move to the survivor; the others are soft-deleted pointing at it."""
        return super().merge(request)

    def merge_service(self, user, survivor, merged, fields):
        return services.person_merge(by=user, survivor=survivor, merged=merged, fields=fields)


@extend_schema(request=OrganizationInputSerializer, responses=OrganizationSerializer)
class OrganizationViewSet(MergeableViewSet):
    serializer_class = OrganizationSerializer
    input_serializer_class = OrganizationInputSerializer
    filterset_class = OrganizationFilter
    schema = custom_field_schema("organization")

    def list_selector(self, user):
        return selectors.organization_list(user=user)

    def get_selector(self, user, pk, action):
        return selectors.organization_get(user=user, organization_id=pk, action=action)

    def create_service(self, user, data):
        return services.organization_create(by=user, **data)

    def update_service(self, user, obj, data):
        return services.organization_update(by=user, organization=obj, data=data)

    def delete_service(self, user, obj):
        services.organization_delete(by=user, organization=obj)

    @extend_schema(request=MergeRequestSerializer, responses=OrganizationSerializer)
    @action(detail=False, methods=["post"])
    def merge(self, request):
        """Merge organizations into one (issue 18): their people, leads, deals, activities and
        permissions move to the survivor; the others are soft-deleted pointing at it."""
        return super().merge(request)

    def merge_service(self, user, survivor, merged, fields):
        return services.organization_merge(by=user, survivor=survivor, merged=merged, fields=fields)


# --- spreadsheet imports ----------------------------------------------------------------------
class ImportSerializer(serializers.ModelSerializer):
    created_by = serializers.IntegerField(source="created_by_id", read_only=True)
    url = serializers.SerializerMethodField(help_text="The import's page in the app.")
    errors_url = serializers.SerializerMethodField(help_text="The error report (CSV).")

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "record_type",
            "file_name",
            "status",
            "mode",
            "mapping",
            "defaults",
            "total_rows",
            "processed",
            "created",
            "updated",
            "skipped",
            "failed",
            "error",
            "cancel_requested",
            "undo_summary",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
            "url",
            "errors_url",
        ]
        read_only_fields = fields

    def get_url(self, job) -> str:
        return reverse("crm:import_detail", args=[job.pk])

    def get_errors_url(self, job) -> str:
        return reverse("api-import-errors", args=[job.pk])


class ImportRequestSerializer(InputSerializer):
    # Any file is taken (an empty one too): reading it is the import's work, and what it cannot
    # read fails the import with the reason (``error``).
    file = serializers.FileField(
        allow_empty_file=True, help_text="A CSV (any common encoding and delimiter) or XLSX."
    )
    record_type = serializers.ChoiceField(choices=["lead", "person", "organization", "deal"])
    mapping = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=100),
        required=False,
        help_text="Column header → field name (custom fields: cf_<name>; an empty name skips "
        "the column). Columns left out are guessed from their headers. A JSON object (in a "
        "multipart body: its JSON text).",
    )
    # A null ``mode`` is the same as leaving it out: a multipart body cannot carry a null (a
    # client's library drops the part), so the schema says what the server does with it.
    mode = serializers.ChoiceField(
        choices=ImportJob.Mode.choices,
        required=False,
        allow_null=True,
        help_text="A row matching an existing record (by e-mail; organizations by domain). "
        "Default: skip.",
    )

    def to_internal_value(self, data):
        # Multipart bodies carry the objects as JSON text, and a null as the text "null".
        multipart = isinstance(data, QueryDict)
        if multipart:  # one part per field: a repeated one is not a value of it
            repeated = {
                key: ["Give one value."] for key in self.fields if len(data.getlist(key)) > 1
            }
            if repeated:
                raise serializers.ValidationError(repeated)
        data = {key: data.get(key) for key in data}  # one value each
        if "mode" in data and (data["mode"] is None or (multipart and data["mode"] == "null")):
            data.pop("mode")  # null: as if left out
        for name in ("mapping",):
            value = data.get(name)
            if isinstance(value, str):
                if not value.strip():  # a form's field left empty: as if left out
                    data.pop(name)
                    continue
                try:
                    data[name] = json.loads(value)
                except ValueError:
                    raise serializers.ValidationError({name: ["Not valid JSON."]}) from None
                if not isinstance(data[name], dict):  # JSON null, a list, a number…
                    raise serializers.ValidationError(
                        {name: ["Must be a JSON object from column header to field name."]}
                    )
        return super().to_internal_value(data)


class ImportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Spreadsheet imports (SPEC §6): ``POST`` a file to start one (202: it runs in the
    background), follow its ``status`` and counts, download the failed rows, cancel or undo.
    You see your own imports; managers and administrators see everyone's."""

    serializer_class = ImportSerializer
    filter_backends: list = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ImportJob.objects.none()
        return selectors.import_list(user=self.request.user)

    def get_object(self):
        return selectors.import_get(user=self.request.user, job_id=self.kwargs["pk"])

    # A file comes as multipart (the only non-JSON body of the API); the actions take none.
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": ImportRequestSerializer},
        responses={202: ImportSerializer},
    )
    def create(self, request):
        if not any(rt.can_import(request.user) for rt in registry.all_types()):
            raise PermissionDenied("You may not import records.")  # before reading any input
        data = ImportRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        if upload.size > import_engine.max_bytes():
            raise ValidationFailed(
                "The file is too large.",
                details={"file": [f"At most {import_engine.max_bytes() // (1024 * 1024)} MB."]},
            )
        # Queued as sent: the job reads the file, guesses the columns left out of the mapping
        # and checks it all, as a worker does; what it refuses ends the import as failed,
        # with the reason in ``error`` (the request itself was well formed: 202).
        job = services.import_queue(
            by=request.user,
            record_type=data.validated_data["record_type"],
            file_name=upload.name or "import.csv",
            content=upload.read(),
            mapping=data.validated_data.get("mapping"),
            mode=data.validated_data.get("mode", ImportJob.Mode.SKIP),
        )
        job = selectors.import_get(user=request.user, job_id=job.pk)  # as it stands now
        return Response(ImportSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={200: ImportSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        job = services.import_cancel(by=request.user, job=self.get_object())
        return Response(ImportSerializer(job).data)

    @extend_schema(request=None, responses={202: ImportSerializer})
    @action(detail=True, methods=["post"])
    def undo(self, request, pk=None):
        job = services.import_undo(by=request.user, job=self.get_object())
        job = selectors.import_get(user=request.user, job_id=job.pk)
        return Response(ImportSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ImportErrorsView(APIView):
    """The failed rows of an import as CSV: line, reason, then the row's own columns."""

    @extend_schema(
        responses={
            (200, export_csv.CSV_CONTENT_TYPE.split(";")[0]): OpenApiResponse(
                description="The failed rows (CSV)."
            )
        }
    )
    def get(self, request, pk):
        job = selectors.import_get(user=request.user, job_id=pk)
        return export_csv.csv_response(
            request,
            export_csv.lines(import_engine.error_report(job)),
            f"import-{job.pk}-errors.csv",
        )
