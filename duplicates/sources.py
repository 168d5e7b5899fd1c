"""Where each record type's facts come from: the rows that take part in duplicate detection
(live records; open leads only: a converted or anonymised lead is history, not a duplicate)
and how a row becomes ``rules.Facts``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Model, Q, QuerySet

from crm.models import Organization, Person
from duplicates import rules
from leads.models import Lead


@dataclass(frozen=True)
class Source:
    type: str
    model: type[Model]
    columns: tuple[str, ...]

    def queryset(self) -> QuerySet:
        qs = self.model.objects.all()
        if self.model is Lead:
            qs = qs.filter(converted_at__isnull=True, anonymized_at__isnull=True)
        return qs

    def facts(self, ids: Iterable | None = None) -> dict[Any, rules.Facts]:
        """``{id: Facts}`` of the rows (all of them, or those of ``ids``): one query."""
        qs = self.queryset()
        if ids is not None:
            qs = qs.filter(pk__in=list(ids))
        return {row[0]: self.row_facts(row) for row in qs.values_list(*self.columns)}

    def recent(self, changed: Q, limit: int) -> dict[Any, rules.Facts]:
        """The facts of the rows ``changed`` selects, the newest ``limit`` of them: records
        whose keys the finder has not stored yet."""
        qs = self.queryset().filter(changed)
        rows = qs.order_by("-updated_at").values_list(*self.columns)[:limit]
        return {row[0]: self.row_facts(row) for row in rows}

    def row_facts(self, row: tuple) -> rules.Facts:
        if self.type == rules.LEAD:
            pk, email, phone, name, company, person_id, organization_id = row
            return rules.lead_facts(
                id=pk,
                contact_email=email,
                contact_phone=phone,
                contact_name=name,
                company_name=company,
                links=(person_id, organization_id),
            )
        if self.type == rules.PERSON:
            pk, first, last, email, phone, org = row
            return rules.person_facts(
                id=pk,
                first_name=first,
                last_name=last,
                email=email,
                phone=phone,
                organization_name=org,
            )
        pk, name, domain = row
        return rules.organization_facts(id=pk, name=name, domain=domain)


SOURCES = {
    rules.LEAD: Source(
        rules.LEAD,
        Lead,
        (
            "id",
            "contact_email",
            "contact_phone",
            "contact_name",
            "company_name",
            "person_id",
            "organization_id",
        ),
    ),
    rules.PERSON: Source(
        rules.PERSON,
        Person,
        ("id", "first_name", "last_name", "email", "phone", "organization__name"),
    ),
    rules.ORGANIZATION: Source(rules.ORGANIZATION, Organization, ("id", "name", "domain")),
}


def form_facts(kind: str, data) -> rules.Facts:
    """The facts of a create/edit form's data (a ``QueryDict`` or dict of its inputs)."""
    get = data.get
    if kind == rules.LEAD:
        return rules.lead_facts(
            contact_email=get("contact_email", ""),
            contact_phone=get("contact_phone", ""),
            contact_name=get("contact_name", ""),
            company_name=get("company_name", ""),
        )
    if kind == rules.PERSON:
        org_name = get("organization_name", "")
        org_id = get("organization") or ""
        if org_id and not org_name:
            try:
                names = Organization.objects.filter(pk=org_id).values_list("name", flat=True)
                org_name = names.first() or ""
            except (ValueError, ValidationError):  # not an id: no company to compare
                org_name = ""
        return rules.person_facts(
            first_name=get("first_name", ""),
            last_name=get("last_name", ""),
            email=get("email", ""),
            phone=get("phone", ""),
            organization_name=org_name,
        )
    return rules.organization_facts(name=get("name", ""), domain=get("domain", ""))


def type_of(record) -> str:
    """ "lead", "person" or "organization": the record type of a record."""
    return next(t for t, s in SOURCES.items() if isinstance(record, s.model))


def record_facts(record) -> rules.Facts:
    """The facts of a loaded record (a person's organization is read if not loaded)."""
    source = SOURCES[type_of(record)]
    values = []
    for column in source.columns:
        if column == "organization__name":
            values.append(record.organization.name if record.organization_id else "")
        else:
            values.append(getattr(record, column))
    return source.row_facts(tuple(values))
