"""The API's OpenAPI schema class (``DEFAULT_SCHEMA_CLASS``): drf-spectacular's, made to tell
the truth about what the API answers (SPEC §7).

(Not in ``crm.rest``: DRF imports that module while its own generic views load, and
drf-spectacular's schema module imports those views.)
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from django.core.exceptions import FieldDoesNotExist
from django.core.validators import RegexValidator, URLValidator
from django.db import models
from django.http import QueryDict
from drf_spectacular import openapi
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.settings import api_settings


# --- the error shape ----------------------------------------------------------------------------
class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable machine-readable code, e.g. not_found.")
    message = serializers.CharField()
    details = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Messages per field (non_field_errors: about the whole request).",
    )
    trace_id = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    """The one error shape of the API (SPEC §7)."""

    error = ErrorBodySerializer()


_ERROR_DESCRIPTIONS = {
    400: "Invalid input: ``details`` names each field and what is wrong with it.",
    401: "No valid credentials (``Authorization: Token …`` or a session).",
    403: "Your role or your access to the record does not allow this.",
    404: "No such record, or not one you may see (also: a page beyond the last, a referenced "
    "record in the body that does not exist, named in ``details``).",
    409: "The record's state does not allow this (e.g. a move the workflow does not allow, "
    "a second conversion).",
    429: "Too many requests; retry after ``Retry-After`` seconds.",
}
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


# --- the schema class ---------------------------------------------------------------------------
class AutoSchema(openapi.AutoSchema):
    """The API's schema class (``DEFAULT_SCHEMA_CLASS``): drf-spectacular's, plus

    - the error responses every operation can give, each with the SPEC §7 error shape: 400 for
      input (a body or query parameters, or a write a service may refuse), 401 and 403 when
      the operation needs a user, 404 for records in the path or the body and pages, 409 for
      writes, 429 where a throttle applies;
    - read-only strings that the model lets be blank (``""`` for an e-mail, URL or choice
      field) are documented as such: DRF drops ``allow_blank`` from read-only fields.
    """

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        for parameter in operation.get("parameters", []):
            if parameter.get("in") == "query":
                _allow_blank(parameter)
        responses = operation.setdefault("responses", {})
        error_ref = self.resolve_serializer(ErrorSerializer, "response").ref
        for code, response in responses.items():  # errors the view declares itself
            if code.startswith("4") and "content" not in response:
                response["content"] = {"application/json": {"schema": error_ref}}
        if self._answers_merged_redirect():
            responses["301"] = {
                "description": "The record was merged into another (issue 18): ``Location`` "
                "is the survivor's URL, and the body (the error shape, code ``merged``) names "
                "it in ``details.survivor``.",
                "headers": {
                    "Location": {
                        "schema": {"type": "string", "format": "uri"},
                        "description": "The survivor's URL in the API.",
                    }
                },
                "content": {"application/json": {"schema": error_ref}},
            }
        for code in self._error_statuses(operation):
            response = responses.setdefault(str(code), {})
            response.setdefault("description", _ERROR_DESCRIPTIONS[code])
            response["content"] = {"application/json": {"schema": error_ref}}
            if code == 429:
                response.setdefault("headers", {})["Retry-After"] = {
                    "schema": {"type": "integer"},
                    "description": "Seconds to wait before the next request.",
                }
        return operation

    def _answers_merged_redirect(self) -> bool:
        """A record type that merges answers a merged-away record's detail with a 301."""
        return (
            self.method == "GET"
            and getattr(self.view, "merged_redirect", False)
            and getattr(self.view, "action", None) == "retrieve"
        )

    def _error_statuses(self, operation: dict) -> list[int]:
        parameters = operation.get("parameters", [])
        has_query = any(p.get("in") == "query" for p in parameters)
        has_path = any(p.get("in") == "path" for p in parameters)
        has_body = "requestBody" in operation
        write = self.method not in _SAFE_METHODS
        authenticated = bool(self.view.get_authenticators()) and not all(
            isinstance(permission, AllowAny) for permission in self.view.get_permissions()
        )
        codes = []
        if write or has_query or has_body:
            codes.append(400)
        if authenticated:
            codes += [401, 403]
            if has_path or has_query or has_body:
                codes.append(404)
            if write:
                codes.append(409)
        if self.view.get_throttles():
            codes.append(429)
        return codes

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        if (
            field.read_only
            and isinstance(field, serializers.CharField | serializers.ChoiceField)
            and not field.allow_blank
            and _model_field_is_blank(field)
        ):
            field.allow_blank = True  # a copy made for this schema; read-only: never validates
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if direction == "request" and isinstance(schema, dict):
            _tighten_request_schema(field, schema)
        return schema


_BLANK = {"type": "string", "maxLength": 0}

# What DRF trims (``str.strip``: Python's whitespace, which is not ECMAScript's ``\s``), spelled
# out so that both readings agree; and no NUL, which DRF refuses in any text.
_SPACE = r"\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NOT_BLANK = rf"^[^\x00]*[^\x00{_SPACE}][^\x00]*$"
_SPACES = {"type": "string", "pattern": rf"^[{_SPACE}]*$"}


def _allow_blank(parameter: dict) -> None:
    """A query parameter given empty (``?owner=``, ``?page=``) is as if not given, as in the
    tables' forms: say so where the parameter's schema would refuse an empty string."""
    schema = parameter.get("schema")
    if not schema:
        return
    if schema.get("type") == "array":
        # An empty item of ``ordering`` orders by nothing; of a list of choices, is no choice.
        if parameter["name"] == "ordering" and "items" in schema:
            parameter["schema"] = {**schema, "items": {"anyOf": [schema["items"], _BLANK]}}
        return
    if schema.get("type") != "string" or {"format", "enum", "pattern", "minLength"} & set(schema):
        # Django's UUID and (strict) boolean form fields strip the value first; the number, date
        # and choice fields take only the empty string as empty.
        stripped = schema.get("format") == "uuid" or schema.get("type") == "boolean"
        parameter["schema"] = {"anyOf": [schema, _SPACES if stripped else _BLANK]}


def _tighten_request_schema(field: serializers.Field, schema: dict) -> None:
    """State what DRF's request fields check beyond drf-spectacular's mapping:

    - a text that may not be blank is blank when DRF trims it, so it needs a non-space;
    - a URL is what Django's ``URLValidator`` takes;
    - a list that may not be empty has at least one item;
    - a decimal string has a digit (and no sign when it may not be negative).
    """
    if (
        isinstance(field, serializers.CharField)
        and field.trim_whitespace
        and not field.allow_blank
        and schema.get("type") == "string"
        and not {"pattern", "format", "enum"} & schema.keys()
        and not any(isinstance(v, RegexValidator) for v in field.validators)
    ):
        schema["pattern"] = NOT_BLANK
    elif isinstance(field, serializers.URLField) and "pattern" not in schema:
        validators = [v for v in field.validators if isinstance(v, URLValidator)]
        validator = URLValidator()
        for other in validators:  # a URL passes all of them: only the schemes they share
            validator.schemes = [s for s in validator.schemes if s in other.schemes]
        schema["pattern"] = url_pattern(validator)
    elif isinstance(field, serializers.ListField) and not field.allow_empty:
        schema.setdefault("minItems", 1)
    elif (
        isinstance(field, serializers.DecimalField)
        and schema.get("type") == "string"
        and field.max_whole_digits
        and field.decimal_places
        and not field.localize
    ):
        sign = "" if field.min_value is not None and field.min_value >= 0 else "-?"
        whole, places = field.max_whole_digits, field.decimal_places
        schema["pattern"] = (
            rf"^{sign}(?:0*\d{{1,{whole}}}(?:\.\d{{0,{places}}})?|\.\d{{1,{places}}})$"
        )


def url_pattern(validator: URLValidator) -> str:
    """Django's ``URLValidator`` as an ECMAScript pattern: its own expression, case-insensitive
    by character classes (no inline flags in ECMAScript), its schemes, and its limit of 253
    characters on the host name."""
    insensitive = "".join(
        f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c)
        for c in "|".join(validator.schemes)
    ).replace(r"\|", "|")
    rest = validator.regex.pattern.split("://", 1)[1]
    rest = rest.replace("a-z", "a-zA-Z").replace("0-9a-f", "0-9a-fA-F").replace(r"\Z", "$")
    return rf"^(?:{insensitive})://(?![^/?#]{{254}})" + rest


def _model_field_is_blank(field: serializers.Field) -> bool:
    """Whether the model field behind a ModelSerializer field may be blank."""
    model = getattr(getattr(field.parent, "Meta", None), "model", None)
    if model is None or not getattr(field, "source_attrs", None):
        return False
    model_field = None
    for attr in field.source_attrs:
        if model is None:
            return False
        try:
            model_field = model._meta.get_field(attr)
        except FieldDoesNotExist:
            return False
        model = model_field.related_model if model_field.is_relation else None
    return bool(model_field is not None and model_field.blank and not model_field.is_relation)


# --- input serializers that keep to the schema's JSON types -----------------------------------
def _json_types(field: serializers.Field) -> tuple[type, ...] | None:
    """The JSON types (as Python types) the schema gives ``field`` in a request body, or None
    when the field checks its own input."""
    if isinstance(field, serializers.BooleanField):
        return (bool,)
    if isinstance(field, serializers.IntegerField):
        return (int,)
    if isinstance(field, serializers.FloatField):
        return (int, float)
    if isinstance(field, serializers.DecimalField):
        as_string = getattr(field, "coerce_to_string", api_settings.COERCE_DECIMAL_TO_STRING)
        return (str,) if as_string else (int, float)
    if isinstance(field, serializers.MultipleChoiceField | serializers.ListField):
        return (list,)
    if isinstance(field, serializers.ChoiceField):
        kinds = {type(key) for key in field.choices}
        return (str,) if kinds <= {str} else None
    if isinstance(
        field,
        serializers.CharField
        | serializers.UUIDField
        | serializers.DateField
        | serializers.DateTimeField
        | serializers.TimeField
        | serializers.DurationField,
    ):
        return (str,)
    if isinstance(field, serializers.ManyRelatedField):
        return (list,)
    if isinstance(field, serializers.PrimaryKeyRelatedField) and field.queryset is not None:
        pk = field.queryset.model._meta.pk
        if isinstance(pk, models.AutoField | models.BigAutoField | models.IntegerField):
            return (int,)
        if isinstance(pk, models.UUIDField | models.CharField):
            return (str,)
        return None
    if isinstance(field, serializers.DictField | serializers.Serializer):
        return (dict,)
    if isinstance(field, serializers.ListSerializer):
        return (list,)
    return None


_TYPE_NAMES = {
    bool: "true or false",
    int: "a whole number",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "an object",
}


def _too_long(field: serializers.CharField, value: str) -> list[str] | None:
    """The text as sent, before DRF trims the whitespace around it, over the field's
    ``max_length`` (the schema's maxLength is of the text as sent: "  " + the longest text
    is too long)."""
    max_length = getattr(field, "max_length", None)
    if max_length and len(value) > max_length:
        return [f"Ensure this field has no more than {max_length} characters."]
    return None


def json_type_errors(field: serializers.Field, value) -> list[str] | dict | None:
    """What is wrong with the JSON type of ``value`` for ``field`` (and, in a list or an
    object, of its items), or None. ``null`` is left to the field (``allow_null``)."""
    if value is None:
        return None
    if isinstance(field, serializers.RelatedField) and value == "":
        return ["Expected an id or null."]  # DRF would read "" as null
    kinds = _json_types(field)
    if kinds is None:
        return None
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        expected = " or ".join(dict.fromkeys(_TYPE_NAMES[kind] for kind in kinds))
        return [f"Expected {expected}."]
    if isinstance(field, serializers.CharField) and (error := _too_long(field, value)):
        return error
    child = getattr(field, "child", None)
    if isinstance(field, serializers.ListField) and child is not None:
        items = {i: json_type_errors(child, item) for i, item in enumerate(value)}
        return {i: error for i, error in items.items() if error} or None
    if isinstance(field, serializers.DictField) and child is not None:
        items = {key: json_type_errors(child, item) for key, item in value.items()}
        return {key: error for key, error in items.items() if error} or None
    return None


class JSONTypesMixin:
    """For input serializers: a value whose JSON type is not the one the schema gives (a number
    for a text, ``"true"`` or ``1`` for a boolean, ``"5"`` for an id) is a 400 naming the
    field, where DRF would convert it. So a body the schema calls invalid is refused."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping) and not isinstance(data, QueryDict):
            errors = {}
            for field in self._writable_fields:
                if field.field_name in data:
                    error = json_type_errors(field, data[field.field_name])
                    if error:
                        errors[field.field_name] = error
            if errors:
                raise serializers.ValidationError(errors)
        elif isinstance(data, QueryDict):
            # A form-encoded body has no JSON types, but its texts' lengths are as sent too.
            errors = {
                field.field_name: error
                for field in self._writable_fields
                if isinstance(field, serializers.CharField)
                and isinstance(data.get(field.field_name), str)
                and (error := _too_long(field, data[field.field_name]))
            }
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


# Bases of the API's request bodies (see ``JSONTypesMixin``). Comments, not docstrings: the
# schema would show a base class's docstring for every request body.
class InputSerializer(JSONTypesMixin, serializers.Serializer):
    pass


class ModelInputSerializer(JSONTypesMixin, serializers.ModelSerializer):
    pass
