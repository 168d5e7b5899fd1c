"""Spreadsheet import for every record type (SPEC §6): read a CSV or XLSX file, guess how its
columns map to the type's fields, convert each cell as it will be stored, and write the rows
in batches through the type's services (``RecordType.importing``), deciding per row what a
match on an existing record means (skip, fill empty fields, overwrite, or create anyway).

Reading: XLSX through tablib (openpyxl); CSV through the standard library's ``csv`` reader,
after charset-normalizer has found the encoding and ``csv.Sniffer`` the delimiter (tablib's
CSV loader refuses rows of uneven length, which real exports have). The mapping, the
conversion of a cell, the dedupe and the progress are ours. The writes are in
``crm.services`` (``import_*``); this module is called by them.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import charset_normalizer
import tablib
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.db.models import F
from django.db.models.functions import Lower
from django.template.loader import render_to_string
from django.utils import timezone

from crm import db, permissions, realtime
from crm import selectors as crm_selectors
from crm.errors import DomainError, ValidationFailed
from crm.models import ImportJob, ImportRow, Organization, Person
from crm.records import registry
from crm.records.types import RecordType
from customfields import selectors as cf_selectors
from customfields.models import FieldType
from customfields.services import validate_values

CUSTOM_PREFIX = "cf_"
SKIP = ""  # a column mapped to nothing
PREVIEW_ROWS = 10
MULTI_SEPARATORS = re.compile(r"\s*[;|,]\s*")
TRUE_WORDS = {"true", "yes", "y", "1", "x", "ja", "oui", "si", "✓"}
FALSE_WORDS = {"false", "no", "n", "0", "nein", "non", ""}


class ImportFileError(ValidationFailed):
    """The file cannot be read as a spreadsheet (400, naming ``file``)."""

    def __init__(self, message: str):
        super().__init__(message, details={"file": [message]})


# --- reading --------------------------------------------------------------------------------
@dataclass
class Sheet:
    headers: list[str]
    rows: list[list[str]]  # data rows, as text, each as long as ``headers``
    lines: list[int]  # each row's line in the file (the header is line 1)
    file_format: str = "csv"
    encoding: str = ""
    delimiter: str = ""


def max_bytes() -> int:
    return getattr(settings, "IMPORT_MAX_BYTES", 50 * 1024 * 1024)


def max_rows() -> int:
    return getattr(settings, "IMPORT_MAX_ROWS", 200_000)


def is_xlsx(content: bytes, file_name: str = "") -> bool:
    return content[:4] == b"PK\x03\x04" or file_name.lower().endswith(".xlsx")


def read_sheet(content: bytes, file_name: str = "") -> Sheet:
    """The file's header row and data rows, as text. Raises ``ImportFileError``."""
    if not content:
        raise ImportFileError("The file is empty.")
    if len(content) > max_bytes():
        raise ImportFileError(f"The file is larger than {max_bytes() // (1024 * 1024)} MB.")
    sheet = _read_xlsx(content) if is_xlsx(content, file_name) else _read_csv(content)
    if not any(h.strip() for h in sheet.headers):
        raise ImportFileError("The first row must name the columns.")
    if not sheet.rows:
        raise ImportFileError("The file has a header row but no rows to import.")
    if len(sheet.rows) > max_rows():
        raise ImportFileError(f"The file has more than {max_rows():,} rows; split it.")
    return sheet


def sheet_text(content: bytes, file_name: str = "") -> str:
    """Every cell of a file as one text (a line a row), or the bytes decoded as they are when
    the file cannot be read as a sheet: what a search for a string in the file reads."""
    try:
        sheet = read_sheet(content, file_name)
    except ImportFileError:
        return content.decode("utf-8", errors="replace")
    return "\n".join("\t".join(row) for row in [sheet.headers, *sheet.rows])


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def _finish(header: list, raw_rows: Iterable[tuple[int, list]], **meta) -> Sheet:
    headers = [_text(h) or f"Column {i + 1}" for i, h in enumerate(header)]
    seen: dict[str, int] = {}
    for i, h in enumerate(headers):  # two columns with one name: the second gets a number
        if h in seen:
            headers[i] = f"{h} ({i + 1})"
        seen[h] = i
    width = len(headers)
    rows, lines = [], []
    for line, row in raw_rows:
        cells = [_text(c) for c in row][:width]
        if not any(cells):
            continue  # blank lines are not rows
        rows.append(cells + [""] * (width - len(cells)))
        lines.append(line)
    return Sheet(headers=headers, rows=rows, lines=lines, **meta)


def _read_xlsx(content: bytes) -> Sheet:
    try:
        book = tablib.Databook().load(content, format="xlsx")
    except Exception:  # openpyxl raises many kinds for a damaged or foreign file
        raise ImportFileError("This is not an Excel (.xlsx) file that can be read.") from None
    sheets = [s for s in book.sheets() if s.height or s.headers]
    if not sheets:
        raise ImportFileError("The workbook's sheets are empty.")
    data = sheets[0]  # the first sheet with data
    header = list(data.headers or [])
    return _finish(header, ((i + 2, list(r)) for i, r in enumerate(data)), file_format="xlsx")


def decode(content: bytes) -> tuple[str, str]:
    """The text of a CSV file and the encoding it was in: a byte-order mark decides, then
    strict UTF-8, then charset-normalizer's best guess (Windows-1252, Latin-1, UTF-16…)."""
    for bom, encoding in (
        (b"\xef\xbb\xbf", "utf-8-sig"),
        (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"),
    ):
        if content.startswith(bom):
            return content.decode(encoding), encoding
    try:
        return content.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    best = charset_normalizer.from_bytes(content[:200_000]).best()
    if best is None:
        raise ImportFileError("The file is not text that can be read (is it a spreadsheet?).")
    encoding = best.encoding
    if _single_byte(encoding) and encoding != "cp1252":
        # A short file gives charset-normalizer little to go on between the Western code
        # pages (é read as č by cp1250): Windows-1252, by far the most common of them in the
        # exports a CRM gets, wins whenever it reads the file.
        try:
            return content.decode("cp1252"), "cp1252"
        except UnicodeDecodeError:
            pass
    try:
        return content.decode(encoding), encoding
    except (UnicodeDecodeError, LookupError):
        raise ImportFileError(f"The file could not be read as {encoding} text.") from None


def _single_byte(encoding: str) -> bool:
    name = encoding.replace("-", "").replace("_", "").lower()
    return name.startswith(("cp125", "windows125", "iso8859", "latin", "maclatin", "cp850"))


def sniff_delimiter(text: str) -> str:
    sample = "\n".join(text.splitlines()[:50])
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        counts = {d: sample.count(d) for d in ",;\t|"}
        return max(counts, key=counts.get) if any(counts.values()) else ","


def _read_csv(content: bytes) -> Sheet:
    text, encoding = decode(content)
    if "\x00" in text:
        raise ImportFileError("The file holds binary data; upload a CSV or an XLSX file.")
    delimiter = sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader, [])
        rows = [(reader.line_num, row) for row in reader]
    except csv.Error as exc:
        raise ImportFileError(f"The CSV could not be read: {exc}.") from None
    return _finish(header, rows, file_format="csv", encoding=encoding, delimiter=delimiter)


# --- fields and mapping ----------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """A field a column may fill."""

    key: str  # model field name, or cf_<name>
    label: str
    model_field: models.Field | None = None
    definition: Any = None  # the custom field definition

    @property
    def is_custom(self) -> bool:
        return self.definition is not None


def targets(rt: RecordType, definitions=None) -> list[Target]:
    """The fields of ``rt`` a column may map to: its importable fields and active custom
    fields, in that order."""
    meta = rt.model._meta
    found = []
    for name in rt.importing.fields:
        f = meta.get_field(name)
        found.append(Target(name, str(f.verbose_name).capitalize(), model_field=f))
    for d in cf_selectors.active_fields(rt.key, definitions=definitions):
        found.append(Target(f"{CUSTOM_PREFIX}{d.name}", d.label, definition=d))
    return found


def normalize_header(header: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", header.casefold())


def guess_mapping(
    rt: RecordType,
    headers: list[str],
    remembered: Mapping[str, str] | None = None,
    definitions=None,
) -> dict[str, str]:
    """Column header → field key for each header: the user's earlier choice for that header
    (``remembered``, keyed by normalized header), else a field whose name, label or synonym
    reads the same; each field once. Unknown headers map to nothing (``SKIP``)."""
    available = {t.key: t for t in targets(rt, definitions)}
    names: dict[str, str] = {}
    for t in available.values():
        names.setdefault(normalize_header(t.key), t.key)
        names.setdefault(normalize_header(t.label), t.key)
        if t.is_custom:
            names.setdefault(normalize_header(t.definition.name), t.key)
    for header, key in rt.importing.synonyms.items():
        names.setdefault(normalize_header(header), key)
    remembered = remembered or {}
    mapping, used = {}, set()
    for header in headers:
        norm = normalize_header(header)
        key = remembered.get(norm)
        if key not in available or key in used:
            key = names.get(norm)
        if key in available and key not in used:
            mapping[header] = key
            used.add(key)
        else:
            mapping[header] = SKIP
    return mapping


def check_mapping(rt: RecordType, headers: list[str], mapping: Mapping[str, str]) -> dict:
    """The mapping as the import uses it (every header, unknown fields refused, each field
    once); raises ``ValidationFailed`` on ``mapping``."""
    if not isinstance(mapping, Mapping):
        raise ValidationFailed(
            "The mapping must be an object from column to field.",
            details={"mapping": ["Must be an object from column header to field name."]},
        )
    keys = {t.key for t in targets(rt)}
    errors = []
    for header, key in mapping.items():
        if header not in headers:
            errors.append(f"“{header}” is not a column of the file.")
        elif key and key not in keys:
            errors.append(f"“{key}” is not a {rt.noun} field.")
    chosen = [k for k in mapping.values() if k]
    errors += [
        f"“{k}” is chosen for more than one column."
        for k in sorted(set(chosen))
        if chosen.count(k) > 1
    ]
    if errors:
        raise ValidationFailed(errors[0], details={"mapping": errors})
    full = {h: (mapping.get(h) or SKIP) for h in headers}
    missing = [f for f in rt.importing.required if f not in full.values()]
    if missing:
        labels = {t.key: t.label for t in targets(rt)}
        message = f"Map a column to {', '.join(labels.get(m, m) for m in missing)}: it is required."
        raise ValidationFailed(message, details={"mapping": [message]})
    return full


# --- converting cells --------------------------------------------------------------------------
@dataclass
class Lookups:
    """What converting a batch of rows needs from the database, read once per batch."""

    users: dict[str, Any] = field(default_factory=dict)  # username/email/name → user
    organizations: dict[str, Any] = field(default_factory=dict)  # name → organization
    people: dict[str, Any] = field(default_factory=dict)  # email → person
    definitions: Any = None


def user_keys(user) -> list[str]:
    keys = [user.username.casefold(), str(user.pk)]
    if user.email:
        keys.append(user.email.casefold())
    name = f"{user.first_name} {user.last_name}".strip()
    if name:
        keys.append(name.casefold())
    return keys


def lookups_for(rt: RecordType, by, mapping: Mapping[str, str], rows: list[list[str]], headers):
    """Load the users, organizations and people the batch's cells name (one query each)."""
    found = Lookups(definitions=cf_selectors.definitions_for(rt.key))
    fields = {
        k: rt.model._meta.get_field(k)
        for k in set(mapping.values())
        if k and not k.startswith(CUSTOM_PREFIX)
    }
    relations = {k: f.related_model for k, f in fields.items() if f.is_relation}
    if not relations:
        return found
    index = {h: i for i, h in enumerate(headers)}

    def cells(model) -> set[str]:
        wanted = set()
        for header, key in mapping.items():
            if relations.get(key) is model:
                wanted |= {row[index[header]].strip() for row in rows if row[index[header]].strip()}
        return wanted

    if get_user_model() in relations.values():
        for user in crm_selectors.assignable_users(with_roles=False):
            for key in user_keys(user):
                found.users.setdefault(key, user)
    if Organization in relations.values() and (names := cells(Organization)):
        folded = {n.casefold() for n in names}
        for org in crm_selectors.organization_list(user=by).only("pk", "name", "owner_id"):
            if org.name.casefold() in folded:
                found.organizations.setdefault(org.name.casefold(), org)
    if Person in relations.values() and (emails := cells(Person)):
        visible = crm_selectors.person_list(user=by).filter(email__in=[e.lower() for e in emails])
        for person in visible:
            found.people.setdefault(person.email.casefold(), person)
    return found


def convert_cell(target: Target, raw: str, lookups: Lookups):
    """The value ``raw`` stores as for ``target``; raises ``ValueError`` with the message."""
    f = target.model_field
    text = raw.strip()
    if target.is_custom:
        if target.definition.type == FieldType.MULTI_SELECT:
            return [p for p in MULTI_SEPARATORS.split(text) if p]
        return text
    if f.is_relation:
        model = f.related_model
        key = text.casefold()
        if model._meta.model_name == "user":
            user = lookups.users.get(key)
            if user is None:
                raise ValueError(f"no user “{text}” (give a username, e-mail or full name).")
            return user
        if model._meta.model_name == "organization":
            org = lookups.organizations.get(key)
            if org is None:
                raise ValueError(f"no organization named “{text}”.")
            return org
        if model._meta.model_name == "person":
            person = lookups.people.get(key)
            if person is None:
                raise ValueError(f"no person with the e-mail “{text}”.")
            return person
        raise ValueError("cannot be imported.")
    if f.choices:
        for value, label in f.flatchoices:
            if key_of(value) == key_of(text) or key_of(label) == key_of(text):
                return value
        options = ", ".join(str(label) for _, label in f.flatchoices)
        raise ValueError(f"“{text}” is not one of: {options}.")
    if isinstance(f, models.BooleanField):
        if text.casefold() in TRUE_WORDS:
            return True
        if text.casefold() in FALSE_WORDS:
            return False
        raise ValueError(f"“{text}” is not yes or no.")
    if isinstance(f, models.DecimalField | models.IntegerField | models.FloatField):
        text = _plain_number(text)
    if isinstance(f, models.DateField) and not isinstance(f, models.DateTimeField):
        return _date(text)
    try:
        value = _form_field(f).clean(text)
    except ValidationError as exc:
        raise ValueError(" ".join(exc.messages)) from None
    if isinstance(f, models.EmailField) and value:
        value = value.lower()
    return value


_FORM_FIELDS: dict[models.Field, Any] = {}


def _form_field(f: models.Field):
    """The model field's form field, made once per field (building one costs more than
    cleaning a cell)."""
    form_field = _FORM_FIELDS.get(f)
    if form_field is None:
        form_field = _FORM_FIELDS[f] = f.formfield()
    return form_field


def key_of(value) -> str:
    return normalize_header(str(value))


def _plain_number(text: str) -> str:
    """ "1,234.50", "1 234,50", "€ 1.234,50" → "1234.50": currency signs and grouping out."""
    bare = re.sub(r"[\s\u00a0'€$£¥]|^[A-Za-z]{3}|[A-Za-z]{3}$", "", text)
    if not re.fullmatch(r"-?[\d.,]*\d[\d.,]*", bare):
        return text  # not a number: the field's own check says so
    text = bare
    if "," in text and "." in text:
        if text.rfind(",") > text.rfind("."):  # 1.234,50
            text = text.replace(".", "").replace(",", ".")
        else:  # 1,234.50
            text = text.replace(",", "")
    elif text.count(",") == 1 and len(text.split(",")[1]) != 3:
        text = text.replace(",", ".")  # 12,5
    else:
        text = text.replace(",", "")
    return text


DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y", "%m/%d/%Y", "%Y/%m/%d", "%d-%m-%Y")


def _date(text: str) -> dt.date:
    candidate = text[:10] if re.match(r"\d{4}-\d{2}-\d{2}[T ]", text) else text
    for pattern in DATE_FORMATS:
        try:
            return dt.datetime.strptime(candidate, pattern).date()
        except ValueError:
            continue
    raise ValueError(f"“{text}” is not a date (write it as YYYY-MM-DD).")


@dataclass
class Row:
    """One data row converted: what the services get, or the errors per column."""

    line: int
    raw: dict[str, str]  # header → cell
    data: dict[str, Any] = field(default_factory=dict)  # field → value, custom_field_values
    errors: dict[str, str] = field(default_factory=dict)  # header → message
    match: str = ""  # the normalized match key

    @property
    def reason(self) -> str:
        return "; ".join(f"{h}: {m}" for h, m in self.errors.items())


def convert_rows(
    rt: RecordType,
    sheet_headers: list[str],
    mapping: Mapping[str, str],
    rows: list[list[str]],
    lines: list[int],
    lookups: Lookups,
) -> list[Row]:
    """Each row's values as they will be stored, with an error per cell that cannot be."""
    by_key = {t.key: t for t in targets(rt, lookups.definitions)}
    columns = [(i, h, by_key[mapping[h]]) for i, h in enumerate(sheet_headers) if mapping.get(h)]
    header_of = {t.key: h for _, h, t in columns}
    importing = rt.importing
    converted = []
    for line, cells in zip(lines, rows, strict=True):
        row = Row(line=line, raw=dict(zip(sheet_headers, cells, strict=True)))
        custom = {}
        for i, header, target in columns:
            raw = cells[i]
            if not raw.strip():
                continue
            try:
                value = convert_cell(target, raw, lookups)
            except ValueError as exc:
                row.errors[header] = str(exc)
                continue
            if target.is_custom:
                custom[target.definition.name] = value
            else:
                row.data[target.key] = value
        for required in importing.required:
            if (
                required not in row.data
                and required in header_of
                and header_of[required] not in row.errors
            ):
                row.errors[header_of[required]] = "required."
        if custom:
            try:
                values = validate_values(
                    entity_type=rt.key, values=custom, partial=True, definitions=lookups.definitions
                )
            except ValidationFailed as exc:
                for key, messages in exc.details.items():
                    name = key.split(".", 1)[-1]
                    header = header_of.get(f"{CUSTOM_PREFIX}{name}", name)
                    label = by_key.get(f"{CUSTOM_PREFIX}{name}")
                    text = " ".join(messages)
                    if label is not None and text.startswith(f"{label.label}: "):
                        text = text[len(label.label) + 2 :]  # the column names it already
                    row.errors[header] = text
            else:
                row.data["custom_field_values"] = {k: values[k] for k in custom if k in values}
        if importing.match_field and row.data.get(importing.match_field):
            row.match = importing.match_key(str(row.data[importing.match_field]))
        converted.append(row)
    return converted


def display(value) -> str:
    """A converted value as the preview shows it."""
    if value is None or value == "":
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, models.Model):
        return str(getattr(value, "display_name", None) or value)
    return str(value)


# --- writing one batch ------------------------------------------------------------------------
def _current(obj, key: str):
    if key == "custom_field_values":
        return dict(obj.custom_field_values or {})
    return getattr(obj, key)


def _empty(value) -> bool:
    return value is None or value == "" or value == [] or value == {}


def changes_for(obj, data: Mapping[str, Any], mode: str) -> tuple[dict, dict, dict]:
    """What an update writes on ``obj``: (data for the service, before, after) with only the
    fields that change — every given field (overwrite) or only those ``obj`` has empty."""
    write, before, after = {}, {}, {}
    for key, value in data.items():
        if key == "custom_field_values":
            stored = dict(obj.custom_field_values or {})
            fresh = {
                name: v
                for name, v in value.items()
                if stored.get(name) != v and (mode == "overwrite" or _empty(stored.get(name)))
            }
            if fresh:
                write["custom_field_values"] = fresh
                before["custom_field_values"] = {n: stored.get(n) for n in fresh}
                after["custom_field_values"] = fresh
            continue
        current = getattr(obj, key)
        if current == value or (mode == "update_empty" and not _empty(current)):
            continue
        write[key] = value
        before[key] = _serial(current)
        after[key] = _serial(value)
    return write, before, after


def _serial(value):
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def created_after(data: Mapping[str, Any]) -> dict:
    """What an import wrote on a record it created: undo removes it only if still so."""
    after = {k: _serial(v) for k, v in data.items() if k != "custom_field_values"}
    if data.get("custom_field_values"):
        after["custom_field_values"] = dict(data["custom_field_values"])
    return after


def unchanged_since(obj, after: Mapping[str, Any]) -> bool:
    """Whether ``obj`` still holds what the import wrote (``after``)."""
    for key, value in after.items():
        if key == "custom_field_values":
            stored = dict(obj.custom_field_values or {})
            if any(stored.get(n) != v for n, v in value.items()):
                return False
            continue
        f = obj._meta.get_field(key)
        if f.is_relation:
            if getattr(obj, f.attname) != value:
                return False
        elif getattr(obj, key) != (f.to_python(value) if value is not None else None):
            return False  # compared as values: Decimal("10") is the stored 10.00
    return True


def restore_data(obj, before: Mapping[str, Any]) -> dict:
    """The service data that puts ``before`` back on ``obj`` (ids back to objects)."""
    data = {}
    for key, value in before.items():
        if key == "custom_field_values":
            values = dict(value.items())
            data["custom_field_values"] = values
            continue
        f = obj._meta.get_field(key)
        if f.is_relation and value is not None:
            value = f.related_model._default_manager.filter(pk=value).first()
        elif isinstance(f, models.DecimalField) and value is not None:
            value = Decimal(value)
        elif isinstance(f, models.DateField) and isinstance(value, str):
            value = dt.date.fromisoformat(value)
        data[key] = "" if value is None and isinstance(f, models.CharField) else value
    return data


def error_message(exc: DomainError) -> str:
    details = getattr(exc, "details", None) or {}
    parts = []
    for key, messages in details.items():
        if key == "non_field_errors":
            parts.extend(messages)
        else:
            parts.append(f"{key.split('.')[-1]}: {' '.join(messages)}")
    return "; ".join(parts) or exc.message


def with_savepoint(func, *args, **kwargs):
    """Run one row's write in a savepoint: a refused row leaves nothing half-written."""
    with transaction.atomic():
        return func(*args, **kwargs)


def changeable(by, objs: list) -> set:
    return permissions.changeable_ids(by, objs) if objs else set()


# --- running an import --------------------------------------------------------------------------
def batch_size() -> int:
    return getattr(settings, "IMPORT_BATCH_SIZE", 500)


# What a batch changes on the job: re-read after each one, never the file itself (a 100,000-row
# file is megabytes; re-reading it per batch cost more than writing the rows).
PROGRESS_FIELDS = [
    "status",
    "started_at",
    "total_rows",
    "processed",
    "created",
    "updated",
    "skipped",
    "failed",
    "cancel_requested",
]


# A large import doubles a table in minutes, faster than autovacuum re-reads its statistics;
# planned with the old ones, the lookup of a batch's e-mails scans the whole table (150 ms a
# batch at 60,000 leads) instead of using its index (1 ms). So on PostgreSQL the import
# refreshes them itself every so many rows.
ANALYZE_EVERY_ROWS = 10_000


def _analyze(model) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


def run(job_id: int):
    """The body of the import task (``crm.services.import_run``)."""
    job = ImportJob.objects.select_related("created_by").filter(pk=job_id).first()
    if job is None or job.status not in (ImportJob.Status.PENDING, ImportJob.Status.RUNNING):
        return job
    rt = registry.get(job.record_type)
    by = job.created_by
    try:  # the file is read once, here
        if not (by.is_active and rt.can_import(by)):
            raise ValidationFailed(f"{by} may no longer import {rt.noun_plural}.")
        sheet = read_sheet(bytes(job.content), job.file_name)
        mapping = check_mapping(rt, sheet.headers, job.mapping)
    except DomainError as exc:
        return _finish_job(job, ImportJob.Status.FAILED, error=exc.message)
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.RUNNING,
        started_at=job.started_at or timezone.now(),
        total_rows=len(sheet.rows),
    )
    job.refresh_from_db(fields=PROGRESS_FIELDS)
    publish_progress(job)
    start, size = job.processed, batch_size()
    while start < len(sheet.rows):
        if ImportJob.objects.filter(pk=job.pk, cancel_requested=True).exists():
            return _finish_job(job, ImportJob.Status.CANCELLED)
        stop = min(start + size, len(sheet.rows))
        if start and start % ANALYZE_EVERY_ROWS < size:
            _analyze(rt.model)
        with transaction.atomic():
            counts = write_batch(job, rt, by, sheet, mapping, start, stop)
            ImportJob.objects.filter(pk=job.pk).update(
                processed=stop, **{k: F(k) + v for k, v in counts.items()}
            )
            job.refresh_from_db(fields=PROGRESS_FIELDS)
            publish_progress(job)
        start = stop
    return _finish_job(job, ImportJob.Status.DONE)


def _finish_job(job, status: str, error: str = ""):
    job.status = status
    job.error = error
    job.finished_at = timezone.now()
    # The uploaded file is not kept once the import ran: it holds personal data nothing needs
    # any more (the rows' outcomes, with what undo restores, are in ``ImportRow``).
    job.content = b""
    job.save(update_fields=["status", "error", "finished_at", "content"])
    publish_progress(job)
    return job


def publish_progress(job) -> None:
    """The progress panel, to the importer's own socket (swapped in out of band)."""
    html = render_to_string("records/_import_progress.html", {"job": job, "oob": True})
    realtime.publish(realtime.user_group(job.created_by_id), {"type": "send_html", "html": html})


def write_batch(job, rt: RecordType, by, sheet: Sheet, mapping, start: int, stop: int) -> dict:
    """Write rows ``start:stop`` of ``sheet``; returns the counts of the batch's outcomes."""
    importing = rt.importing
    texts, lines = sheet.rows[start:stop], sheet.lines[start:stop]
    lookups = lookups_for(rt, by, mapping, texts, sheet.headers)
    rows = convert_rows(rt, sheet.headers, mapping, texts, lines, lookups)
    outcomes: list[ImportRow] = []

    def record(row: Row, outcome: str, obj=None, reason: str = "", before=None, after=None):
        outcomes.append(
            ImportRow(
                job=job,
                line=row.line,
                outcome=outcome,
                object_id=str(obj.pk) if obj is not None else "",
                reason=reason,
                values=row.raw if outcome == ImportRow.Outcome.FAILED else {},
                before=before or {},
                after=after or {},
            )
        )

    matching = job.mode != ImportJob.Mode.CREATE and importing.match_field
    existing: dict[str, list] = {}
    if matching:
        keys = {r.match for r in rows if r.match and not r.errors}
        if keys:
            if importing.match_stored_normalized:
                # By the key's own index only; deleted records are left out here, not in SQL:
                # mid-import, with the table's statistics stale, a "deleted_at IS NULL" lets
                # the planner scan every row through that column's index instead.
                every = getattr(rt.model, "all_objects", rt.model._default_manager)
                found = [
                    o
                    for o in every.filter(**{f"{importing.match_field}__in": keys})
                    if getattr(o, "deleted_at", None) is None
                ]
            else:
                found = rt.model._default_manager.annotate(
                    _match=Lower(importing.match_field)
                ).filter(_match__in=keys)
            # Oldest first, sorted here: an ORDER BY would let the planner walk the whole
            # created_at index instead of looking the keys up (0.17 s a batch at 100k leads).
            for obj in sorted(found, key=lambda o: (o.created_at, str(o.pk))):
                existing.setdefault(
                    importing.match_key(str(getattr(obj, importing.match_field))), []
                ).append(obj)
    allowed = changeable(by, [o for objs in existing.values() for o in objs])
    noun = rt.noun
    match_label = (
        str(rt.model._meta.get_field(importing.match_field).verbose_name) if matching else ""
    )

    defaults = dict(job.defaults or {})
    owner = None
    if defaults.get("owner"):
        owner = get_user_model().objects.filter(pk=defaults["owner"]).first()
    creating: list[Row] = []
    pending: dict[str, int] = {}
    for row in rows:
        if row.errors:
            record(row, ImportRow.Outcome.FAILED, reason=row.reason)
            continue
        if matching and row.match:
            if row.match in pending:
                record(
                    row,
                    ImportRow.Outcome.SKIPPED,
                    reason=f"Same {match_label} as line {pending[row.match]} of this file.",
                )
                continue
            matches = existing.get(row.match)
            if matches:
                target = next((o for o in matches if o.pk in allowed), None)
                touched = _touch(importing, by, target, row.data, job)
                if job.mode == ImportJob.Mode.SKIP:
                    record(
                        row,
                        ImportRow.Outcome.SKIPPED,
                        obj=target,  # linked when it is one you may change
                        reason=f"A {noun} with this {match_label} already exists"
                        + ("; the visit is recorded on it." if touched else "."),
                    )
                    continue
                if target is None:
                    # Nothing about the record: not its name, owner or whether it is hidden.
                    record(
                        row,
                        ImportRow.Outcome.FAILED,
                        reason=f"A {noun} with this {match_label} exists that you may not change.",
                    )
                    continue
                write, before, after = changes_for(target, row.data, job.mode)
                if not write:
                    record(row, ImportRow.Outcome.SKIPPED, obj=target, reason="Nothing to change.")
                    continue
                try:
                    with_savepoint(importing.update, by, target, write)
                except DomainError as exc:
                    record(row, ImportRow.Outcome.FAILED, reason=error_message(exc))
                    continue
                record(row, ImportRow.Outcome.UPDATED, obj=target, before=before, after=after)
                continue
            pending[row.match] = row.line
        if owner is not None and "owner" not in row.data:
            row.data["owner"] = owner
        if defaults.get("source") and "source" in importing.fields and "source" not in row.data:
            row.data["source"] = defaults["source"]
        creating.append(row)

    step = defaults.get("step")
    if importing.create_many is not None and not step:
        results = importing.create_many(by, [dict(r.data) for r in creating])
    else:
        results = []
        for row in creating:
            try:
                obj = with_savepoint(_create_one, importing, by, dict(row.data), step)
            except DomainError as exc:
                obj = exc
            results.append(obj)
    for row, result in zip(creating, results, strict=True):
        if isinstance(result, DomainError):
            record(row, ImportRow.Outcome.FAILED, reason=error_message(result))
        else:
            record(row, ImportRow.Outcome.CREATED, obj=result, after=created_after(row.data))
    db.insert(ImportRow, outcomes)
    counts = {"created": 0, "updated": 0, "skipped": 0, "failed": 0}
    for outcome in outcomes:
        counts[outcome.outcome] += 1
    return counts


def _touch(importing, by, target, data: dict, job) -> bool:
    """Record on ``target`` (a record the importer may change) that a row matched it (leads:
    a touch point); a record that takes none (a converted lead) is left as it is."""
    if target is None or importing.touch is None:
        return False
    try:
        with_savepoint(importing.touch, by, target, data, f"Import: {job.file_name}"[:200])
    except DomainError:
        return False
    return True


def _create_one(importing, by, data: dict, step):
    obj = importing.create(by, data)
    if step and importing.move is not None:
        obj = importing.move(by, obj, step) or obj
    return obj


# --- undo --------------------------------------------------------------------------------------
def undo(job_id: int):
    """Remove what an import created and restore what it overwrote, each record only if
    it still holds what the import wrote."""
    job = ImportJob.objects.select_related("created_by").filter(pk=job_id).first()
    if job is None or job.undo_summary.get("state") not in ("queued", "running"):
        return job
    rt = registry.get(job.record_type)
    by = job.created_by
    summary = {"state": "running", "removed": 0, "restored": 0, "kept": 0}
    ImportJob.objects.filter(pk=job.pk).update(undo_summary=summary)
    manager = rt.model._default_manager
    rows = ImportRow.objects.filter(
        job=job, outcome__in=[ImportRow.Outcome.CREATED, ImportRow.Outcome.UPDATED]
    ).order_by("-line")
    for chunk in _chunks(rows.iterator(chunk_size=500), 500):
        objects = manager.in_bulk([r.object_id for r in chunk])
        for row in chunk:
            obj = objects.get(_pk_of(rt.model, row.object_id))
            if obj is None or not unchanged_since(obj, row.after):
                summary["kept"] += 1
                continue
            try:
                if row.outcome == ImportRow.Outcome.CREATED:
                    with_savepoint(rt.delete, by, obj)
                    summary["removed"] += 1
                else:
                    with_savepoint(rt.importing.update, by, obj, restore_data(obj, row.before))
                    summary["restored"] += 1
            except DomainError:
                summary["kept"] += 1
        ImportJob.objects.filter(pk=job.pk).update(undo_summary=summary)
    summary["state"] = "done"
    job.undo_summary = summary
    job.status = ImportJob.Status.UNDONE
    job.save(update_fields=["undo_summary", "status"])
    publish_progress(job)
    return job


def _pk_of(model, value: str):
    try:
        return model._meta.pk.to_python(value)
    except ValidationError:
        return None


def _chunks(iterable, size: int):
    chunk = []
    for item in iterable:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def error_report(job) -> Iterable[list[str]]:
    """The failed rows as CSV rows: line, reason, then the row's own columns."""
    yield ["line", "reason", *job.headers]
    failed = ImportRow.objects.filter(job=job, outcome=ImportRow.Outcome.FAILED).order_by("line")
    for row in failed.iterator(chunk_size=1000):
        yield [str(row.line), row.reason, *(row.values.get(h, "") for h in job.headers)]
