"""Bulk actions on table rows (SPEC §6 "bulk assign / move / delete"), for any kind of record.

A bulk action is the record's ordinary service applied to each selected record in turn, so
every record gets exactly the permission checks, validation and events of a single action;
one refusal does not undo the others (each record runs in its own transaction)::

    result = bulk_apply(
        queryset=selectors.deal_list(user=request.user),   # what the user may see
        ids=request.POST.getlist("ids"),
        action=lambda deal: services.deal_assign(by=request.user, deal=deal, assignee=user),
        verb="assigned",
    )
    result.summary()  # "3 assigned, 2 refused: Only the owner or a manager can …"

Ids the queryset does not hold (deleted, invisible, malformed) are reported as not found.
Only ``DomainError`` counts as a refusal; any other exception is a bug and propagates.
Leads add bulk delete or export the same way: another ``action`` over the same ids.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model, QuerySet

from crm.errors import DomainError, ValidationFailed

MAX_RECORDS = 500
NOT_FOUND = "Not found, or not visible to you."


@dataclass
class Refusal:
    id: str
    message: str
    code: str
    record: Model | None = None


@dataclass
class BulkResult:
    verb: str
    done: list[Model] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.refused

    def summary(self) -> str:
        """ "3 moved, 2 refused: <the most frequent reason>"."""
        text = f"{len(self.done)} {self.verb}"
        if not self.refused:
            return text
        reasons = Counter(r.message for r in self.refused)
        (top, times), *others = reasons.most_common()
        reason = top if times == 1 else f"{top} (×{times})"
        if others:
            reason += f"; and {len(others)} other reason{'s' if len(others) > 1 else ''}"
        return f"{text}, {len(self.refused)} refused: {reason}"

    @property
    def level(self) -> str:
        """Toast level: success, warning (some refused) or error (all refused)."""
        if not self.refused:
            return "success"
        return "warning" if self.done else "error"


def _parse_ids(model: type[Model], ids: Iterable[Any]) -> tuple[list[Any], list[str]]:
    pk_field = model._meta.pk
    valid, invalid = [], []
    seen = set()
    for raw in ids:
        try:
            value = pk_field.to_python(raw)
        except ValidationError:
            invalid.append(str(raw))
            continue
        if value is None or value in seen:
            continue
        seen.add(value)
        valid.append(value)
    return valid, invalid


def bulk_apply(
    *,
    queryset: QuerySet,
    ids: Iterable[Any],
    action: Callable[[Model], Any],
    verb: str = "updated",
    max_records: int = MAX_RECORDS,
) -> BulkResult:
    """Apply ``action`` (one call of a service) to each record of ``queryset`` named in ``ids``.

    ``queryset`` is a selector's "what this user may see" (one query loads them all); the
    service checks the rest (may change, may reassign …) per record. Records are processed in
    the order of ``ids``. More than ``max_records`` ids is refused as a whole.
    """
    valid, invalid = _parse_ids(queryset.model, ids)
    if len(valid) + len(invalid) > max_records:
        message = f"Select at most {max_records} records at a time."
        raise ValidationFailed(message, details={"ids": [message]})
    if not valid and not invalid:
        message = "Select at least one record."
        raise ValidationFailed(message, details={"ids": [message]})

    result = BulkResult(verb=verb)
    result.refused.extend(Refusal(id=i, message=NOT_FOUND, code="not_found") for i in invalid)
    records = queryset.in_bulk(valid) if valid else {}
    for pk in valid:
        record = records.get(pk)
        if record is None:
            result.refused.append(Refusal(id=str(pk), message=NOT_FOUND, code="not_found"))
            continue
        try:
            with transaction.atomic():
                action(record)
        except DomainError as exc:
            result.refused.append(
                Refusal(id=str(pk), message=exc.message, code=exc.code, record=record)
            )
        else:
            result.done.append(record)
    return result
