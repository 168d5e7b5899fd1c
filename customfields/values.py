"""Parsing one raw value against one definition, shared by writes (``services.validate_values``)
and filters (``filters.apply_cf_filters``).

Stored (normalized) representation, i.e. what lands in ``custom_field_values``:

============  ===============================================================================
type          stored as
============  ===============================================================================
text          ``str``, stripped, at most 1,000 characters
long_text     ``str``, stripped, at most 20,000 characters
number        JSON integer (``int``), within ±(2**53 - 1) so JavaScript clients stay exact
decimal       ``str`` in plain notation with the scale as entered (``"1250.50"``): Decimal
              semantics, never a binary float. Compared numerically by the filters.
date          ``str`` ``"YYYY-MM-DD"`` (ISO 8601 calendar date)
boolean       ``bool``
dropdown      ``str``, one of the options, spelled as in the definition
multi_select  ``list[str]``, a subset of the options, deduplicated, in the options' order
url           ``str``, http or https only, at most 2,000 characters
email         ``str``, domain lowercased, at most 254 characters
============  ===============================================================================

Empty input (``None``, a blank string, an empty list) means "no value" and is handled by the
caller (it clears the field); the cleaners only see non-empty input.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.utils.formats import number_format

from customfields.models import CustomFieldDefinition, FieldType

TEXT_MAX_LENGTH = 1_000
LONG_TEXT_MAX_LENGTH = 20_000
URL_MAX_LENGTH = 2_000
EMAIL_MAX_LENGTH = 254
NUMBER_LIMIT = 2**53 - 1
DECIMAL_MAX_INTEGER_DIGITS = 15
DECIMAL_MAX_PLACES = 10

TRUE_STRINGS = frozenset({"true", "yes", "on", "1"})
FALSE_STRINGS = frozenset({"false", "no", "off", "0"})

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_url_validator = URLValidator(schemes=["http", "https"])


class InvalidValue(ValueError):
    """A value does not fit its definition. The message reads after "<Label>: "."""


def is_empty(raw) -> bool:
    """``None``, a blank string or an empty list: no value (clears an optional field)."""
    if raw is None:
        return True
    if isinstance(raw, str):
        return not raw.strip()
    if isinstance(raw, list | tuple | set | frozenset):
        return len(raw) == 0
    return False


def _short(raw) -> str:
    text = raw if isinstance(raw, str) else repr(raw)
    return text if len(text) <= 60 else f"{text[:57]}…"


def _clean_text(definition: CustomFieldDefinition, raw, limit: int) -> str:
    if not isinstance(raw, str):
        raise InvalidValue("must be text.")
    value = raw.strip()
    if len(value) > limit:
        raise InvalidValue(f"must be at most {limit:,} characters (it has {len(value):,}).")
    if "\x00" in value:  # PostgreSQL stores no NUL character in text or JSON
        raise InvalidValue("must not contain null characters.")
    return value


def clean_text(definition, raw) -> str:
    return _clean_text(definition, raw, TEXT_MAX_LENGTH)


def clean_long_text(definition, raw) -> str:
    return _clean_text(definition, raw, LONG_TEXT_MAX_LENGTH)


def _to_decimal(raw) -> Decimal:
    """Any numeric input (not bool) as a finite Decimal, or InvalidValue."""
    if isinstance(raw, bool):
        raise InvalidValue("must be a number.")
    if isinstance(raw, int):
        return Decimal(raw)
    if isinstance(raw, float):
        if not math.isfinite(raw):
            raise InvalidValue("must be a finite number.")
        return Decimal(repr(raw))  # the shortest repr: 0.1 stays 0.1
    if isinstance(raw, Decimal):
        value = raw
    elif isinstance(raw, str):
        text = raw.strip()
        try:
            if "_" in text:  # Decimal() would accept "1_000"; people and CSVs don't write it
                raise InvalidOperation
            value = Decimal(text)
        except InvalidOperation:
            raise InvalidValue(f"'{_short(raw)}' is not a number.") from None
    else:
        raise InvalidValue("must be a number.")
    if not value.is_finite():
        raise InvalidValue("must be a finite number.")
    return value


def clean_number(definition, raw) -> int:
    try:
        value = _to_decimal(raw)
    except InvalidValue:
        raise InvalidValue(f"'{_short(raw)}' is not a whole number.") from None
    if value != value.to_integral_value():
        raise InvalidValue(f"'{_short(raw)}' is not a whole number.")
    number = int(value)
    if abs(number) > NUMBER_LIMIT:
        raise InvalidValue(f"must be between -{NUMBER_LIMIT:,} and {NUMBER_LIMIT:,}.")
    return number


def clean_decimal(definition, raw) -> str:
    value = _to_decimal(raw)
    exponent = value.as_tuple().exponent
    places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    if places > DECIMAL_MAX_PLACES:
        raise InvalidValue(f"use at most {DECIMAL_MAX_PLACES} decimal places.")
    if value != 0 and value.adjusted() + 1 > DECIMAL_MAX_INTEGER_DIGITS:
        raise InvalidValue(
            f"is too large (at most {DECIMAL_MAX_INTEGER_DIGITS} digits before the point)."
        )
    value = value + Decimal(0)  # turns -0 into 0, keeps the scale
    return format(value, "f")


def clean_date(definition, raw) -> str:
    if isinstance(raw, dt.datetime):
        raise InvalidValue("must be a date without a time (YYYY-MM-DD).")
    if isinstance(raw, dt.date):
        return raw.isoformat()
    if isinstance(raw, str):
        text = raw.strip()
        if _DATE_RE.match(text):
            try:
                return dt.date.fromisoformat(text).isoformat()
            except ValueError:
                pass
        raise InvalidValue(f"'{_short(raw)}' is not a valid date (use YYYY-MM-DD).")
    raise InvalidValue("must be a date (YYYY-MM-DD).")


def clean_boolean(definition, raw) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int) and raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str):
        text = raw.strip().lower()
        if text in TRUE_STRINGS:
            return True
        if text in FALSE_STRINGS:
            return False
    raise InvalidValue(f"'{_short(raw)}' is not true or false.")


def _option_lookup(definition: CustomFieldDefinition) -> dict[str, str]:
    """Options by case-folded spelling: input matching an option up to case is accepted and
    stored with the definition's spelling (options are unique ignoring case)."""
    return {option.casefold(): option for option in definition.options or []}


def _options_text(definition: CustomFieldDefinition) -> str:
    return ", ".join(definition.options or [])


def clean_option(definition, raw) -> str:
    if not isinstance(raw, str):
        raise InvalidValue(f"must be one of: {_options_text(definition)}.")
    option = _option_lookup(definition).get(raw.strip().casefold())
    if option is None:
        raise InvalidValue(f"'{_short(raw)}' is not one of: {_options_text(definition)}")
    return option


def clean_multi_select(definition, raw) -> list[str]:
    if isinstance(raw, str) or not isinstance(raw, list | tuple | set | frozenset):
        raise InvalidValue(f"must be a list of options from: {_options_text(definition)}.")
    lookup = _option_lookup(definition)
    chosen: set[str] = set()
    unknown: list[str] = []
    for item in raw:
        option = lookup.get(item.strip().casefold()) if isinstance(item, str) else None
        if option is None:
            unknown.append(f"'{_short(item)}'")
        else:
            chosen.add(option)
    if unknown:
        verb = "is" if len(unknown) == 1 else "are"
        raise InvalidValue(
            f"{', '.join(unknown)} {verb} not among the options: {_options_text(definition)}"
        )
    return [option for option in definition.options if option in chosen]


def clean_url(definition, raw) -> str:
    if not isinstance(raw, str):
        raise InvalidValue("must be a web address.")
    value = raw.strip()
    if len(value) > URL_MAX_LENGTH:
        raise InvalidValue(f"must be at most {URL_MAX_LENGTH:,} characters.")
    try:
        _url_validator(value)
    except ValidationError:
        raise InvalidValue(
            f"'{_short(value)}' is not a valid web address (start with http:// or https://)."
        ) from None
    return value


def clean_email(definition, raw) -> str:
    if not isinstance(raw, str):
        raise InvalidValue("must be an email address.")
    value = raw.strip()
    if len(value) > EMAIL_MAX_LENGTH:
        raise InvalidValue(f"must be at most {EMAIL_MAX_LENGTH} characters.")
    try:
        validate_email(value)
    except ValidationError:
        raise InvalidValue(f"'{_short(value)}' is not a valid email address.") from None
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


CLEANERS = {
    FieldType.TEXT: clean_text,
    FieldType.LONG_TEXT: clean_long_text,
    FieldType.NUMBER: clean_number,
    FieldType.DECIMAL: clean_decimal,
    FieldType.DATE: clean_date,
    FieldType.BOOLEAN: clean_boolean,
    FieldType.DROPDOWN: clean_option,
    FieldType.MULTI_SELECT: clean_multi_select,
    FieldType.URL: clean_url,
    FieldType.EMAIL: clean_email,
}


def clean_value(definition: CustomFieldDefinition, raw):
    """The normalized value of non-empty ``raw`` for ``definition``; raises InvalidValue."""
    return CLEANERS[FieldType(definition.type)](definition, raw)


def display_value(definition: CustomFieldDefinition, value):
    """A stored value as people read it: ``None`` for no value, booleans as Yes/No, lists
    joined, numbers and decimals with thousands separators (``12,345``, ``1,250.50``);
    anything else unchanged (templates escape it and add links for urls and emails).

    The one reading of a value for detail pages and table cells of every record type."""
    if is_empty(value):
        return None
    if definition.type == FieldType.BOOLEAN:
        return "Yes" if value else "No"
    if definition.type == FieldType.MULTI_SELECT and isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if definition.type in (FieldType.NUMBER, FieldType.DECIMAL):
        return _grouped(value)
    return value


def _grouped(value):
    try:
        number = _to_decimal(value)
    except InvalidValue:
        return value  # stored before the definition changed: show it as it is
    return number_format(number, use_l10n=True, force_grouping=True)
