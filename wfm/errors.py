"""Errors of the workflow engine. Each has a stable ``code``; ``crm.rest`` maps them to the
SPEC §7 error shape and status, HTMX views show their ``message``."""

from __future__ import annotations

from crm.errors import Conflict


class TransitionNotAllowed(Conflict):
    """This move is not one of the workflow's transitions."""

    code = "transition_not_allowed"


class GuardFailed(Conflict):
    """The record does not meet the conditions of the step it would move to."""

    code = "transition_guard_failed"


class AlreadyAtStep(Conflict):
    """The record is already at this step."""

    code = "already_at_step"


class RecordDeleted(Conflict):
    """The record has been deleted; it cannot move."""

    code = "record_deleted"


class StepNotInWorkflow(Conflict):
    """The step is not part of the record's workflow: no move of the record can reach it."""

    code = "step_not_in_workflow"
