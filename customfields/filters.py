"""Filtering and ordering records by their custom field values (SPEC §6, §7 ``cf_`` filters).

Query parameters, for an active field ``<name>``:

- ``cf_<name>=<value>`` — equality. Multi-select: the record's list *contains* the option.
  Boolean: ``true`` / ``false`` (``false`` also matches records without a value, as an
  unticked checkbox shows). Dropdown and multi-select values must be options (case ignored).
- ``cf_<name>_min`` / ``cf_<name>_max`` — inclusive bounds, for number, decimal and date fields.
  Numbers and decimals compare numerically, dates as dates.
- A repeated parameter (``?cf_tags=a&cf_tags=b``) must hold for every value given.
- An empty value is ignored (forms submit empty inputs); anything else that is not valid, an
  unknown or inactive field included, raises ``ValidationFailed`` whose details name the
  parameter.

Works against a ``custom_field_values`` JSONField on SQLite (JSON1) and PostgreSQL (jsonb). On
PostgreSQL the equality and multi-select filters compile to ``custom_field_values @> '{…}'``,
which the ``jsonb_path_ops`` GIN index (``customfields.indexes``) serves.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal

from django.db import NotSupportedError
from django.db.models import (
    BooleanField,
    Case,
    DateField,
    DecimalField,
    Expression,
    F,
    Func,
    IntegerField,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Lower

from crm.errors import ValidationFailed
from customfields import selectors
from customfields.models import (
    NUMERIC_TYPES,
    RANGE_TYPES,
    CustomFieldDefinition,
    FieldType,
)
from customfields.registry import VALUES_FIELD, entity_for_model
from customfields.values import InvalidValue, clean_option, clean_value

PARAM_PREFIX = "cf_"
RANGE_SUFFIXES = {"_min": "gte", "_max": "lte"}
TEXT_ORDER_TYPES = frozenset({FieldType.TEXT, FieldType.LONG_TEXT, FieldType.URL, FieldType.EMAIL})


# --- SQL building blocks --------------------------------------------------------------------


def _json_path(name: str) -> str:
    # Field names are identifiers (see models.validate_field_name), so quoting is enough.
    return f'$."{name}"'


class _JSONKeyCondition(Expression):
    """Base of the boolean conditions on one key of a JSON column. Never NULL, so ``~`` works."""

    def __init__(self, values_field: str, name: str, value):
        super().__init__(output_field=BooleanField())
        self.column = F(values_field)
        self.name = name
        self.value = value

    def get_source_expressions(self):
        return [self.column]

    def set_source_expressions(self, exprs):
        (self.column,) = exprs

    def as_sql(self, compiler, connection):
        raise NotSupportedError("Custom field filters support SQLite and PostgreSQL only.")


class JSONKeyEquals(_JSONKeyCondition):
    """``values[name] == value`` with JSON types respected (``"1"`` is not ``1``)."""

    def as_postgresql(self, compiler, connection):
        column, params = compiler.compile(self.column)
        return f"({column} @> %s::jsonb)", (*params, json.dumps({self.name: self.value}))

    def as_sqlite(self, compiler, connection):
        column, params = compiler.compile(self.column)
        sql = f"COALESCE(JSON_EXTRACT({column}, %s) = JSON_EXTRACT(%s, '$'), 0)"
        return sql, (*params, _json_path(self.name), json.dumps(self.value))


class JSONArrayContains(_JSONKeyCondition):
    """``values[name]`` is a JSON array holding the string ``value``."""

    def as_postgresql(self, compiler, connection):
        column, params = compiler.compile(self.column)
        return f"({column} @> %s::jsonb)", (*params, json.dumps({self.name: [self.value]}))

    def as_sqlite(self, compiler, connection):
        column, params = compiler.compile(self.column)
        path = _json_path(self.name)
        sql = (
            f"(COALESCE(JSON_TYPE({column}, %s) = 'array', 0) AND EXISTS ("
            f"SELECT 1 FROM JSON_EACH({column}, %s) AS cf_item "
            "WHERE cf_item.type = 'text' AND cf_item.value = %s))"
        )
        return sql, (*params, path, *params, path, self.value)


class NumericValue(Func):
    """A JSON number, or a decimal stored as a string, as an SQL number."""

    template = "CAST(%(expressions)s AS NUMERIC)"
    output_field = DecimalField()

    def as_postgresql(self, compiler, connection, **extra_context):
        return self.as_sql(
            compiler, connection, template="(%(expressions)s)::numeric", **extra_context
        )


def key_text(name: str, values_field: str = VALUES_FIELD) -> KeyTextTransform:
    return KeyTextTransform(name, values_field)


def comparable_value(
    definition: CustomFieldDefinition, *, values_field: str = VALUES_FIELD
) -> Expression:
    """The SQL expression that compares and sorts like the field's values."""
    if definition.type in NUMERIC_TYPES:
        return NumericValue(key_text(definition.name, values_field))
    if definition.type == FieldType.DATE:
        return Cast(key_text(definition.name, values_field), DateField())
    if definition.type in TEXT_ORDER_TYPES:
        return Lower(key_text(definition.name, values_field))
    if definition.type == FieldType.DROPDOWN:
        # Options are listed in a meaningful order (Low, Medium, High): sort by position.
        return Case(
            *[
                When(JSONKeyEquals(values_field, definition.name, option), then=Value(i))
                for i, option in enumerate(definition.options or [])
            ],
            default=None,
            output_field=IntegerField(),
        )
    return key_text(definition.name, values_field)


def _lookup(expression: Expression, lookup_name: str, value) -> Expression:
    return expression.get_lookup(lookup_name)(expression, value)


def has_value_q(name: str, *, values_field: str = VALUES_FIELD) -> Q:
    """Records holding any value for ``name``."""
    return Q(**{f"{values_field}__has_key": name})


def equals_q(definition: CustomFieldDefinition, value, *, values_field: str = VALUES_FIELD) -> Q:
    """Records whose value equals the (already normalized) ``value``; for multi-select, whose
    list contains the option ``value``."""
    name = definition.name
    if definition.type == FieldType.MULTI_SELECT:
        return Q(JSONArrayContains(values_field, name, value))
    if definition.type == FieldType.BOOLEAN and value is False:
        return ~Q(JSONKeyEquals(values_field, name, True))
    if definition.type == FieldType.DECIMAL:
        # Stored with its scale ("12.50"): compare numerically so that 12.5 matches.
        expression = comparable_value(definition, values_field=values_field)
        return Q(_lookup(expression, "exact", Decimal(value)))
    return Q(JSONKeyEquals(values_field, name, value))


def option_used_q(
    definition: CustomFieldDefinition, option: str, *, values_field: str = VALUES_FIELD
) -> Q:
    """Records whose dropdown value is, or whose multi-select list holds, ``option``."""
    if definition.type == FieldType.MULTI_SELECT:
        return Q(JSONArrayContains(values_field, definition.name, option))
    return Q(JSONKeyEquals(values_field, definition.name, option))


def range_q(
    definition: CustomFieldDefinition,
    bound: str,
    value,
    *,
    values_field: str = VALUES_FIELD,
) -> Q:
    """``bound`` is ``"gte"`` or ``"lte"``; ``value`` the normalized bound."""
    expression = comparable_value(definition, values_field=values_field)
    is_date = definition.type == FieldType.DATE
    bound_value = dt.date.fromisoformat(value) if is_date else Decimal(value)
    return Q(_lookup(expression, bound, bound_value))


# --- parameters -----------------------------------------------------------------------------


def _param_values(params: Mapping, key: str) -> list[str]:
    if hasattr(params, "getlist"):
        raw = params.getlist(key)
    else:
        raw = params[key]
        raw = list(raw) if isinstance(raw, list | tuple) else [raw]
    return [v for v in raw if v is not None and str(v).strip() != ""]


def _resolve_param(
    key: str, by_name: Mapping[str, CustomFieldDefinition]
) -> tuple[CustomFieldDefinition | None, str | None, str]:
    """(definition, bound or None, bare name) for a ``cf_`` parameter name."""
    bare = key[len(PARAM_PREFIX) :]
    if bare in by_name:
        return by_name[bare], None, bare
    for suffix, bound in RANGE_SUFFIXES.items():
        if bare.endswith(suffix) and bare[: -len(suffix)] in by_name:
            # Names never end in _min/_max (models.validate_field_name), so this is unambiguous.
            return by_name[bare[: -len(suffix)]], bound, bare[: -len(suffix)]
    return None, None, bare


def cf_filter_q(
    entity_type: str,
    params: Mapping[str, str],
    *,
    definitions: selectors.Definitions | None = None,
    values_field: str = VALUES_FIELD,
) -> Q:
    """The condition the ``cf_`` parameters in ``params`` describe (``Q()`` when none)."""
    keys = [k for k in params if isinstance(k, str) and k.startswith(PARAM_PREFIX)]
    condition = Q()
    if not keys:
        return condition
    by_name = {d.name: d for d in selectors.all_fields(entity_type, definitions=definitions)}
    errors: dict[str, list[str]] = {}
    for key in keys:
        values = _param_values(params, key)
        if not values:
            continue
        definition, bound, _ = _resolve_param(key, by_name)
        if definition is None:
            errors[key] = [f"Unknown custom field filter '{key}'."]
            continue
        label = definition.label
        if not definition.is_active:
            errors[key] = [f"{label}: this field is inactive and cannot be filtered on."]
            continue
        if bound and definition.type not in RANGE_TYPES:
            errors[key] = [
                f"{label}: _min and _max filters apply to number, decimal and date fields only."
            ]
            continue
        for raw in values:
            try:
                if definition.type == FieldType.MULTI_SELECT:
                    value = clean_option(definition, raw)
                else:
                    value = clean_value(definition, raw)
            except InvalidValue as exc:
                errors.setdefault(key, []).append(f"{label}: {exc}")
                continue
            if bound:
                condition &= range_q(definition, bound, value, values_field=values_field)
            else:
                condition &= equals_q(definition, value, values_field=values_field)
    if errors:
        first = next(iter(errors.values()))[0]
        raise ValidationFailed(first, details=errors)
    return condition


def filter_inputs(
    entity_type: str,
    params: Mapping,
    *,
    definitions: selectors.Definitions | None = None,
) -> list[dict]:
    """The filter inputs of a table's active custom fields with the values now applied, for
    ``templates/customfields/_filter_fields.html``: range fields get a min and a max."""
    rows = []
    for definition in selectors.active_fields(entity_type, definitions=definitions):
        param = definition.param_name
        rows.append(
            {
                "definition": definition,
                "is_range": definition.type in RANGE_TYPES,
                "value": params.get(param, ""),
                "min": params.get(f"{param}_min", ""),
                "max": params.get(f"{param}_max", ""),
            }
        )
    return rows


def apply_cf_filters(
    queryset: QuerySet,
    entity_type: str,
    params: Mapping[str, str],
    *,
    definitions: selectors.Definitions | None = None,
    values_field: str = VALUES_FIELD,
) -> QuerySet:
    """``queryset`` narrowed by the ``cf_`` parameters in ``params``; other keys are ignored.

    One query for the definitions, only when a ``cf_`` parameter is present (or none with
    ``definitions=``). Raises ``ValidationFailed`` with details keyed by parameter name.
    """
    condition = cf_filter_q(entity_type, params, definitions=definitions, values_field=values_field)
    return queryset.filter(condition) if condition else queryset


# --- ordering -------------------------------------------------------------------------------


def cf_ordering_expression(
    definition: CustomFieldDefinition,
    descending: bool = False,
    *,
    values_field: str = VALUES_FIELD,
):
    """An ``order_by`` term for the field; records without a value come last either way."""
    expression = comparable_value(definition, values_field=values_field)
    if descending:
        return expression.desc(nulls_last=True)
    return expression.asc(nulls_last=True)


def parse_cf_ordering(term: str) -> tuple[str, bool] | None:
    """``"-cf_budget"`` → ``("budget", True)``; ``None`` for terms that are not custom fields."""
    descending = term.startswith("-")
    bare = term[1:] if descending else term
    if not bare.startswith(PARAM_PREFIX) or len(bare) == len(PARAM_PREFIX):
        return None
    return bare[len(PARAM_PREFIX) :], descending


def _entity_type_of(queryset: QuerySet, entity_type: str | None) -> tuple[str, str]:
    entity = entity_for_model(queryset.model)
    if entity_type:
        return entity_type, entity.values_field if entity else VALUES_FIELD
    if entity is None:
        raise ValueError(
            f"{queryset.model.__name__} is not registered with customfields.registry; "
            "pass entity_type=."
        )
    return entity.entity_type, entity.values_field


def cf_definition_for_ordering(
    entity_type: str, name: str, *, definitions: selectors.Definitions | None = None
) -> CustomFieldDefinition:
    for definition in selectors.active_fields(entity_type, definitions=definitions):
        if definition.name == name:
            return definition
    message = f"Unknown custom field '{name}' to order by."
    raise ValidationFailed(message, details={"ordering": [message]})


def order_by_cf(
    queryset: QuerySet,
    name: str,
    descending: bool = False,
    *,
    entity_type: str | None = None,
    definitions: selectors.Definitions | None = None,
) -> QuerySet:
    """``queryset`` ordered by custom field ``name`` (numbers numerically, dates as dates,
    texts ignoring case, dropdowns by option position), records without a value last, then
    by primary key so pages are stable.

    ``entity_type`` defaults to the one registered for the queryset's model.
    """
    entity_type, values_field = _entity_type_of(queryset, entity_type)
    definition = cf_definition_for_ordering(entity_type, name, definitions=definitions)
    return queryset.order_by(
        cf_ordering_expression(definition, descending, values_field=values_field), "pk"
    )


# --- django-filter --------------------------------------------------------------------------


class CustomFieldFilterSetMixin:
    """Adds the ``cf_`` filters (and ``cf_`` ordering terms) to a django-filter FilterSet::

        class LeadFilter(CustomFieldFilterSetMixin, django_filters.FilterSet):
            cf_entity_type = "lead"
            ordering = django_filters.OrderingFilter(fields=(("lead_score", "lead_score"),))

    ``?cf_budget_min=1000&ordering=-cf_budget,lead_score`` then filters and orders by the
    custom field, keeping the position of each ordering term. ``ValidationFailed`` raised for a
    bad value becomes a 400 naming the parameter through ``crm.rest.exception_handler``; HTML
    views catch it and show the message.
    """

    cf_entity_type: str = ""
    cf_values_field: str = VALUES_FIELD
    cf_ordering_param: str = "ordering"

    def __init__(self, data=None, *args, **kwargs):
        self._cf_ordering_terms: list[str] = []
        if data is not None and self.cf_ordering_param:
            raw = data.get(self.cf_ordering_param)
            terms = [t.strip() for t in raw.split(",")] if isinstance(raw, str) else []
            if any(parse_cf_ordering(t) for t in terms):
                self._cf_ordering_terms = [t for t in terms if t]
                data = data.copy()
                standard = [t for t in self._cf_ordering_terms if not parse_cf_ordering(t)]
                if standard:
                    data[self.cf_ordering_param] = ",".join(standard)
                else:
                    data.pop(self.cf_ordering_param, None)
        super().__init__(data, *args, **kwargs)

    def cf_definitions(self) -> list[CustomFieldDefinition]:
        if not hasattr(self, "_cf_definitions"):
            self._cf_definitions = selectors.definitions_for(self.cf_entity_type)
        return self._cf_definitions

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        needs_definitions = self._cf_ordering_terms or any(
            isinstance(k, str) and k.startswith(PARAM_PREFIX) for k in self.data
        )
        if not needs_definitions:
            return queryset
        definitions = self.cf_definitions()
        queryset = apply_cf_filters(
            queryset,
            self.cf_entity_type,
            self.data,
            definitions=definitions,
            values_field=self.cf_values_field,
        )
        if self._cf_ordering_terms:
            queryset = queryset.order_by(*self._cf_ordering(definitions), "pk")
        return queryset

    def _cf_ordering(self, definitions: Sequence[CustomFieldDefinition]) -> list:
        ordering_filter = self.filters.get(self.cf_ordering_param) if self.filters else None
        terms = []
        for term in self._cf_ordering_terms:
            parsed = parse_cf_ordering(term)
            if parsed:
                name, descending = parsed
                definition = cf_definition_for_ordering(
                    self.cf_entity_type, name, definitions=definitions
                )
                terms.append(
                    cf_ordering_expression(
                        definition, descending, values_field=self.cf_values_field
                    )
                )
            elif hasattr(ordering_filter, "get_ordering_value"):
                # Already validated by the OrderingFilter's form field.
                terms.append(ordering_filter.get_ordering_value(term))
        return terms


# --- OpenAPI --------------------------------------------------------------------------------

OPENAPI_DESCRIPTION = (
    "Custom field filters: `cf_<name>=<value>` (equality; multi-select: contains the option; "
    "boolean: true/false), `cf_<name>_min` / `cf_<name>_max` (number, decimal and date fields, "
    "inclusive). Order with `ordering=cf_<name>` or `-cf_<name>`. List the fields at "
    "`/api/v1/custom-fields/?entity_type=…`."
)


def openapi_parameters(
    entity_type: str, *, definitions: selectors.Definitions | None = None
) -> list:
    """drf-spectacular ``OpenApiParameter`` objects for the active fields' filters.

    Reads the definitions, so call it when the schema is generated (see
    ``customfields.api.CustomFieldFilterSchema``), not at import time.
    """
    from drf_spectacular.types import OpenApiTypes
    from drf_spectacular.utils import OpenApiParameter

    kinds = {
        FieldType.NUMBER: OpenApiTypes.INT,
        FieldType.DECIMAL: OpenApiTypes.DECIMAL,
        FieldType.DATE: OpenApiTypes.DATE,
        FieldType.BOOLEAN: OpenApiTypes.BOOL,
    }
    parameters = []
    for definition in selectors.active_fields(entity_type, definitions=definitions):
        kind = kinds.get(definition.type, OpenApiTypes.STR)
        enum = list(definition.options) if definition.options else None
        description = f"{definition.label} ({definition.get_type_display().lower()})"
        if definition.type == FieldType.MULTI_SELECT:
            description += ": records whose list contains this option"
        parameters.append(
            OpenApiParameter(
                definition.param_name, kind, description=description, enum=enum, required=False
            )
        )
        if definition.type in RANGE_TYPES:
            for suffix, word in (("_min", "at least"), ("_max", "at most")):
                parameters.append(
                    OpenApiParameter(
                        f"{definition.param_name}{suffix}",
                        kind,
                        description=f"{definition.label} {word} this value",
                        required=False,
                    )
                )
    return parameters
