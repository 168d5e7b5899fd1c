"""Custom field definitions (SPEC §5, §6 Custom fields).

A definition describes one extra field of one entity type. The values themselves live in the
record's ``custom_field_values`` JSON object, keyed by the definition's ``name``; this app never
owns those records, it only validates, renders, filters and orders them.
"""

from __future__ import annotations

import re
import uuid

from django.core.exceptions import ValidationError
from django.db import models

from crm.models import TimestampedModel

NAME_MAX_LENGTH = 50
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
OPTION_MAX_LENGTH = 100
MAX_OPTIONS = 200

# Names that would be ambiguous in query parameters (``cf_<name>_min``) or in Django JSON key
# lookups (``custom_field_values__<name>``), or that read like a record's own identity.
RESERVED_NAMES = frozenset(
    {
        # Django lookups and JSON transforms: ``custom_field_values__contains`` is a lookup,
        # not the key "contains".
        "contained_by",
        "contains",
        "date",
        "day",
        "endswith",
        "exact",
        "gt",
        "gte",
        "has_any_keys",
        "has_key",
        "has_keys",
        "icontains",
        "iendswith",
        "iexact",
        "in",
        "iregex",
        "isnull",
        "istartswith",
        "keys",
        "len",
        "lt",
        "lte",
        "month",
        "range",
        "regex",
        "startswith",
        "time",
        "values",
        "year",
        # Identity and query-string words.
        "id",
        "pk",
        "min",
        "max",
        "search",
        "ordering",
        "page",
        "page_size",
        "format",
        "null",
        "none",
        "true",
        "false",
    }
)


def validate_field_name(value: str) -> None:
    """A name must work as a JSON key, a Django lookup part and a ``cf_<name>`` parameter."""
    if len(value) > NAME_MAX_LENGTH:
        raise ValidationError(f"Use at most {NAME_MAX_LENGTH} characters.", code="max_length")
    if not NAME_PATTERN.match(value):
        raise ValidationError(
            "Use lowercase letters, digits and underscores, starting with a letter "
            "(for example budget_range).",
            code="invalid",
        )
    if "__" in value:
        raise ValidationError("Do not use two underscores in a row.", code="invalid")
    if value.endswith(("_min", "_max")):
        # cf_<name>_min / cf_<name>_max are the range filters of <name>.
        raise ValidationError(
            "Names may not end in _min or _max (those suffixes are range filters).",
            code="reserved",
        )
    if value in RESERVED_NAMES:
        raise ValidationError(f"'{value}' is a reserved name; choose another.", code="reserved")


class EntityType(models.TextChoices):
    LEAD = "lead", "Lead"
    DEAL = "deal", "Deal"
    PERSON = "person", "Person"
    ORGANIZATION = "organization", "Organization"


class FieldType(models.TextChoices):
    TEXT = "text", "Text"
    LONG_TEXT = "long_text", "Long text"
    NUMBER = "number", "Number (whole)"
    DECIMAL = "decimal", "Decimal"
    DATE = "date", "Date"
    BOOLEAN = "boolean", "Yes / no"
    DROPDOWN = "dropdown", "Dropdown"
    MULTI_SELECT = "multi_select", "Multi-select"
    URL = "url", "URL"
    EMAIL = "email", "Email"


CHOICE_TYPES = frozenset({FieldType.DROPDOWN, FieldType.MULTI_SELECT})
RANGE_TYPES = frozenset({FieldType.NUMBER, FieldType.DECIMAL, FieldType.DATE})
NUMERIC_TYPES = frozenset({FieldType.NUMBER, FieldType.DECIMAL})


def normalize_options(options) -> list:
    """Strip each option and drop blank ones; anything not a list is returned unchanged so that
    ``clean`` can refuse it with a message."""
    if not isinstance(options, list | tuple):
        return options
    out = []
    for option in options:
        if isinstance(option, str):
            option = option.strip()
            if not option:
                continue
        out.append(option)
    return out


class CustomFieldDefinition(TimestampedModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    entity_type = models.CharField(
        max_length=20,
        choices=EntityType,
        help_text="The kind of record this field belongs to. Cannot be changed later.",
    )
    name = models.CharField(
        max_length=NAME_MAX_LENGTH,
        validators=[validate_field_name],
        help_text=(
            "Machine name: the key in custom_field_values and the cf_<name> filter in URLs and "
            "the API. Lowercase letters, digits and underscores, starting with a letter, at most "
            f"{NAME_MAX_LENGTH} characters. Cannot be changed later."
        ),
    )
    label = models.CharField(
        max_length=100,
        help_text="What users see on forms, tables and error messages, e.g. “Budget range”.",
    )
    type = models.CharField(
        max_length=20,
        choices=FieldType,
        help_text="The kind of value the field holds. Cannot be changed later.",
    )
    options = models.JSONField(
        default=list,
        blank=True,
        help_text=(
            "Dropdown and multi-select only: the allowed values, in display order, one per "
            "line. Must be empty for every other type. An option still used by records cannot "
            "be removed."
        ),
    )
    is_required = models.BooleanField(
        default=False,
        help_text=(
            "Records must have a value. Applies to every later create and update; existing "
            "records without a value must get one on their next edit."
        ),
    )
    is_active = models.BooleanField(
        default=True,
        help_text=(
            "Inactive fields are hidden everywhere (forms, tables, filters, API output) but "
            "their stored values are kept; activating the field again brings them back."
        ),
    )
    display_order = models.PositiveIntegerField(
        default=0,
        help_text="Position on forms and detail pages; lower comes first.",
    )
    show_in_table = models.BooleanField(
        default=False,
        help_text="Offer the field as a column in list tables.",
    )
    help_text = models.CharField(
        max_length=500,
        blank=True,
        help_text="Shown under the field on forms to explain what to enter.",
    )

    class Meta:
        ordering = ["entity_type", "display_order", "name"]
        verbose_name = "custom field"
        verbose_name_plural = "custom fields"
        constraints = [
            models.UniqueConstraint(
                fields=["entity_type", "name"], name="customfields_unique_entity_name"
            ),
            models.CheckConstraint(
                condition=models.Q(entity_type__in=EntityType.values),
                name="customfields_entity_type_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(type__in=FieldType.values), name="customfields_type_valid"
            ),
        ]
        indexes = [
            models.Index(
                fields=["entity_type", "is_active", "display_order"],
                name="customfields_active_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_entity_type_display()}: {self.label}"

    def clean(self) -> None:
        super().clean()
        self.options = normalize_options(self.options)
        errors = self.options_errors()
        if errors:
            raise ValidationError({"options": errors})

    def options_errors(self) -> list[str]:
        options = self.options
        if options in (None, ""):
            options = self.options = []
        if not isinstance(options, list):
            return ["Options must be a list of texts."]
        if self.type not in CHOICE_TYPES:
            if options:
                return [
                    "Options are only used by dropdown and multi-select fields; leave them "
                    "empty for this type."
                ]
            return []
        if not options:
            return ["Dropdown and multi-select fields need at least one option."]
        errors = []
        if len(options) > MAX_OPTIONS:
            errors.append(f"Use at most {MAX_OPTIONS} options.")
        seen: set[str] = set()
        for option in options:
            if not isinstance(option, str):
                errors.append(f"Option {option!r} must be text.")
                continue
            if len(option) > OPTION_MAX_LENGTH:
                errors.append(
                    f"Option '{option[:20]}…' is longer than {OPTION_MAX_LENGTH} characters."
                )
            key = option.casefold()
            if key in seen:
                errors.append(f"Option '{option}' is listed twice (options ignore case).")
            seen.add(key)
        return errors

    @property
    def uses_options(self) -> bool:
        return self.type in CHOICE_TYPES

    @property
    def param_name(self) -> str:
        """The query parameter that filters on this field."""
        return f"cf_{self.name}"
