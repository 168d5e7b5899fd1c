"""Finding and replacing a data subject's personal strings (issue 18).

A ``Scrubber`` holds the strings that identify one person (names, email addresses, phone
numbers) and replaces them in text and in JSON documents. ``scrub_rows`` applies it to the
text and JSON columns of a queryset's rows, writing only the rows it changed.

Full strings ("Jane Doe", "jane@example.com") are matched anywhere, ignoring case. Single name
words ("Doe") are matched as whole words, and only in rows already known to be about the
subject (its activities, its history): alone, a short word is too common to hunt across the
whole database.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property, reduce
from operator import or_
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.db import models
from django.db.models import Q

PLACEHOLDER = "[anonymized]"
MIN_NEEDLE = 3  # shorter strings are not personal enough to hunt


def phone_variants(phone: str) -> list[str]:
    """The phone as typed and its digits alone ("+49 30 1234567" → "+49301234567",
    "49301234567"), as it may have been written elsewhere."""
    phone = (phone or "").strip()
    if not phone:
        return []
    digits = re.sub(r"\D", "", phone)
    compact = re.sub(r"[^\d+]", "", phone)
    return [v for v in dict.fromkeys([phone, compact, digits]) if len(re.sub(r"\D", "", v)) >= 6]


@dataclass
class Scrubber:
    needles: list[str] = field(default_factory=list)  # full strings, matched anywhere
    words: list[str] = field(default_factory=list)  # name words, whole words, known rows only

    @classmethod
    def build(cls, *, names: Iterable[str] = (), emails: Iterable[str] = (), phones=()):
        needles: list[str] = []
        words: list[str] = []
        for name in names:
            name = " ".join((name or "").split())
            if len(name) >= MIN_NEEDLE:
                needles.append(name)
            words.extend(w for w in re.split(r"[\s,.;]+", name) if len(w) >= MIN_NEEDLE)
        needles.extend(e.strip() for e in emails if e and len(e.strip()) >= MIN_NEEDLE)
        for phone in phones:
            needles.extend(phone_variants(phone))
        unique = list(dict.fromkeys(n for n in needles if n))
        return cls(
            needles=sorted(unique, key=len, reverse=True),
            words=sorted(dict.fromkeys(words), key=len, reverse=True),
        )

    def __bool__(self) -> bool:
        return bool(self.needles or self.words)

    def extend(self, other: Scrubber) -> Scrubber:
        return Scrubber(
            needles=sorted(dict.fromkeys([*self.needles, *other.needles]), key=len, reverse=True),
            words=sorted(dict.fromkeys([*self.words, *other.words]), key=len, reverse=True),
        )

    @cached_property
    def _full(self) -> re.Pattern | None:
        if not self.needles:
            return None
        return re.compile("|".join(re.escape(n) for n in self.needles), re.IGNORECASE)

    @cached_property
    def _with_words(self) -> re.Pattern | None:
        parts = [re.escape(n) for n in self.needles]
        parts += [rf"\b{re.escape(w)}\b" for w in self.words]
        if not parts:
            return None
        return re.compile("|".join(parts), re.IGNORECASE)

    def found_in(self, value: str) -> bool:
        """Whether ``value`` holds one of the full strings (ignoring case)."""
        return bool(value) and self._full is not None and self._full.search(value) is not None

    def text(self, value: str, *, words: bool = True) -> str:
        pattern = self._with_words if words else self._full
        if not value or pattern is None:
            return value
        return pattern.sub(PLACEHOLDER, value)

    def json(self, value: Any, *, words: bool = True) -> Any:
        """The document with every matching string (keys too) scrubbed."""
        if isinstance(value, str):
            return self.text(value, words=words)
        if isinstance(value, list):
            return [self.json(v, words=words) for v in value]
        if isinstance(value, dict):
            return {
                self.text(str(k), words=words): self.json(v, words=words) for k, v in value.items()
            }
        return value

    def search_terms(self) -> list[str]:
        """What to look for in the database: each needle, and its form inside a JSON document
        (escaped non-ASCII, as SQLite stores it)."""
        terms = []
        for needle in self.needles:
            terms.append(needle)
            escaped = json.dumps(needle)[1:-1]
            if escaped != needle:
                terms.append(escaped)
        return list(dict.fromkeys(terms))

    def q(self, fields: Iterable[str]) -> Q | None:
        """Rows where any of ``fields`` contains a needle (ignoring case)."""
        terms = self.search_terms()
        conditions = [Q(**{f"{f}__icontains": t}) for f in fields for t in terms]
        return reduce(or_, conditions) if conditions else None


def text_fields(model: type[models.Model]) -> list[str]:
    """The model's stored text and JSON columns (choices excluded: a label is no one's)."""
    return [
        f.name
        for f in model._meta.concrete_fields
        if isinstance(f, models.CharField | models.TextField | models.JSONField)
        and not f.choices
        and not f.primary_key
        and not isinstance(f, models.UUIDField)
    ]


def scrub_rows(
    queryset: models.QuerySet,
    scrubber: Scrubber,
    *,
    fields: Iterable[str] | None = None,
    words: bool = True,
    set_values: dict[str, Any] | None = None,
) -> int:
    """Scrub ``fields`` (default: every text and JSON column) of the rows of ``queryset``,
    after setting ``set_values`` on each; writes the changed rows only. The rows' count."""
    model = queryset.model
    fields = list(fields if fields is not None else text_fields(model))
    set_values = set_values or {}
    columns = list(dict.fromkeys([*fields, *set_values]))
    changed = []
    for row in queryset.only("pk", *columns).iterator(chunk_size=500):
        dirty = False
        for name, value in set_values.items():
            if getattr(row, name) != value:
                setattr(row, name, value)
                dirty = True
        for name in fields:
            value = getattr(row, name)
            if value is None:
                continue
            field_obj = model._meta.get_field(name)
            scrubbed = (
                scrubber.json(value, words=words)
                if isinstance(field_obj, models.JSONField)
                else scrubber.text(value, words=words)
            )
            if isinstance(field_obj, models.CharField) and field_obj.max_length:
                scrubbed = scrubbed[: field_obj.max_length]
            if scrubbed != value:
                setattr(row, name, scrubbed)
                dirty = True
        if dirty:
            changed.append(row)
    if changed:
        model._base_manager.bulk_update(changed, columns, batch_size=500)
    return len(changed)


def strip_query(url: str) -> str:
    """A URL without its query and fragment, where prefilled personal data hides."""
    if not url:
        return url
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query="", fragment=""))
