"""A stand-in for the records (leads, deals) the engine moves."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class FakeEntity:
    """An ``EntityAdapter`` over a dict of values, with human labels for the field names."""

    values: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    lead_score: int | None = None
    deleted: bool = False
    name: str = "Acme Corp"

    def label(self) -> str:
        return self.name

    def is_deleted(self) -> bool:
        return self.deleted

    def score(self) -> int | None:
        return self.lead_score

    def missing_fields(self, step) -> list[str]:
        return [self.labels.get(n, n) for n in step.required_fields if not self.values.get(n)]
