"""The conditions a record must meet to enter a step (required fields, minimum score).

Used by ``project_transition`` (which refuses the move) and by screens that want to show why a
move would be refused before the user tries it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wfm.adapters import EntityAdapter
from wfm.models import WorkflowStep


@dataclass(frozen=True)
class GuardReport:
    step: WorkflowStep
    missing_fields: list[str] = field(default_factory=list)
    min_score: int | None = None
    score: int | None = None
    unchecked: bool = False  # the step has guards but no adapter was given to check them

    @property
    def score_too_low(self) -> bool:
        return self.min_score is not None and (self.score is None or self.score < self.min_score)

    @property
    def ok(self) -> bool:
        return not (self.unchecked or self.missing_fields or self.score_too_low)

    @property
    def messages(self) -> list[str]:
        out = []
        if self.unchecked:
            out.append(
                f"“{self.step}” has entry conditions (required fields or a minimum score) "
                "that cannot be checked for this record."
            )
        if self.missing_fields:
            out.append(f"Fill in {_join(self.missing_fields)} first.")
        if self.score_too_low:
            current = "not scored yet" if self.score is None else f"currently {self.score}"
            out.append(f"Needs a lead score of at least {self.min_score} ({current}).")
        return out


def check_guards(*, step: WorkflowStep, adapter: EntityAdapter | None) -> GuardReport:
    has_guards = bool(step.required_fields) or step.min_lead_score is not None
    if adapter is None:
        # Fail closed: a step's conditions are never skipped just because nobody checked them.
        return GuardReport(step=step, unchecked=has_guards)
    missing = adapter.missing_fields(step) if step.required_fields else []
    score = adapter.score() if step.min_lead_score is not None else None
    return GuardReport(
        step=step, missing_fields=list(missing), min_score=step.min_lead_score, score=score
    )


def _join(labels: list[str]) -> str:
    if len(labels) == 1:
        return labels[0]
    return f"{', '.join(labels[:-1])} and {labels[-1]}"
