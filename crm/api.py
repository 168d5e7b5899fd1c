"""REST API of the crm core (SPEC §7): auth, users, people, organizations.

Thin: serializers describe input and output; writes call crm.services, reads crm.selectors.
"""

from __future__ import annotations

import json

from django.contrib.auth import authenticate
from django.db import models
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from crm import assignment, permissions, selectors, services, tokens
from crm.errors import NotAuthenticated, PermissionDenied, ValidationFailed
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
from crm.records import registry
from crm.rest import TEXT_MAX_LENGTH, FilterBackend
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
    def get_fields(self):
        fields = super().get_fields()
        fields["custom_field_values"] = _custom_field_values(self, read_only=True)
        return fields


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


@extend_schema(request=PersonInputSerializer, responses=PersonSerializer)
class PersonViewSet(RecordViewSet):
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


@extend_schema(request=OrganizationInputSerializer, responses=OrganizationSerializer)
class OrganizationViewSet(RecordViewSet):
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
    mode = serializers.ChoiceField(
        choices=ImportJob.Mode.choices,
        required=False,
        help_text="A row matching an existing record (by e-mail; organizations by domain).",
    )

    def to_internal_value(self, data):
        # Multipart bodies carry the objects as JSON text.
        data = {key: data.get(key) for key in data}  # one value each (a QueryDict has lists)
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
