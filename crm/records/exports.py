"""CSV export of a record type's filtered set (SPEC §6), for every record type.

Columns come from the record description: model fields named once there, read here by type
(foreign keys as the related record's name, choices by value, dates in ISO), plus one column
per active custom field. Cells that a spreadsheet would run as a formula are neutralised
(OWASP "CSV injection": a leading ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a
``'`` in front). This is the project's one CSV writer: every export goes through ``rows`` and
``cell`` (a test fails if another module writes CSV).
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal

from django.db import models
from django.http import StreamingHttpResponse

from crm.records.types import ExportColumn

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CHUNK_LINES = 500


def _field_value(field: models.Field) -> Callable:
    name = field.name
    if isinstance(field, models.ForeignKey | models.OneToOneField):
        attname = field.attname

        def related(obj):
            if getattr(obj, attname) is None:
                return ""
            other = getattr(obj, name)
            return getattr(other, "username", None) or str(other)

        return related
    return lambda obj: getattr(obj, name)


def field_columns(model: type[models.Model], names: Iterable[str]) -> tuple[ExportColumn, ...]:
    """Export columns for model fields, headed by the field name (what imports map back)."""
    return tuple(ExportColumn(n, _field_value(model._meta.get_field(n))) for n in names)


def cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, list):
        value = "; ".join(str(v) for v in value)
    text = str(value)
    return f"'{text}" if text.startswith(FORMULA_START) else text


def streamed(request, lines: Iterator[str]):
    """The lines as the server wants them: under ASGI an async iterator that pulls chunks of
    lines in the request's sync thread (a sync iterator would be read whole into memory
    first), under WSGI the plain iterator."""
    from django.core.handlers.asgi import ASGIRequest

    if not isinstance(request, ASGIRequest):
        return lines

    from asgiref.sync import sync_to_async

    def take() -> str:
        return "".join(itertools.islice(lines, CHUNK_LINES))

    async def chunks():
        while chunk := await sync_to_async(take)():
            yield chunk

    return chunks()


class _Echo:
    def write(self, value):
        return value


CSV_CONTENT_TYPE = "text/csv; charset=utf-8"


def lines(table: Iterable[list]) -> Iterator[str]:
    """CSV lines of plain rows (the first one the header), every cell through ``cell``."""
    writer = csv.writer(_Echo())
    for row in table:
        yield writer.writerow([cell(v) for v in row])


def csv_response(request, csv_lines: Iterator[str], filename: str) -> StreamingHttpResponse:
    """A CSV download of ``csv_lines``, streamed as the server wants it."""
    response = StreamingHttpResponse(streamed(request, csv_lines), content_type=CSV_CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def rows(
    records: Iterable, columns: tuple[ExportColumn, ...], cf_names: list[str]
) -> Iterator[str]:
    """The CSV lines: a header, then one line per record."""
    writer = csv.writer(_Echo())
    yield writer.writerow([cell(c.header) for c in columns] + [cell(f"cf_{n}") for n in cf_names])
    for obj in records:
        values = getattr(obj, "custom_field_values", None) or {}
        yield writer.writerow(
            [cell(c.value(obj)) for c in columns] + [cell(values.get(n)) for n in cf_names]
        )
