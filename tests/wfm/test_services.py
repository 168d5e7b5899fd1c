"""The workflow engine's services, driven with a fake entity adapter."""

import pytest

from crm.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from crm.models import Event
from tests.wfm.factories import WorkflowFactory, WorkflowStepFactory, build_workflow
from tests.wfm.fakes import FakeEntity
from wfm import services
from wfm.defaults import LEAD_QUALIFICATION, LeadStep
from wfm.errors import (
    AlreadyAtStep,
    GuardFailed,
    RecordDeleted,
    StepNotInWorkflow,
    TransitionNotAllowed,
)
from wfm.models import Project, ProjectType, StatusHistory, Workflow, WorkflowStep

STEPS = ["New", "Contacted", "Qualified", "Converted", "Disqualified"]
MOVES = [
    ("New", "Contacted"),
    ("Contacted", "Qualified"),
    ("Qualified", "Converted"),
    ("Contacted", "New"),
    ("New", "Disqualified"),
    ("Contacted", "Disqualified"),
    ("Qualified", "Disqualified"),
    ("Disqualified", "New"),
]


@pytest.fixture
def flow(db):
    """A lead-like workflow: Qualified needs an email and a score of 50."""
    return build_workflow(
        STEPS,
        MOVES,
        final=("Converted", "Disqualified"),
        options={
            "Qualified": {"required_fields": ["email", "budget"], "min_lead_score": 50},
            "Converted": {"outcome": "won"},
            "Disqualified": {"outcome": "lost"},
        },
    )


@pytest.fixture
def steps(flow):
    return flow[1]


@pytest.fixture
def project(flow, rep1):
    return services.project_start(by=rep1, workflow=flow[0])


@pytest.fixture
def ready():
    """A record that meets every guard of the fixture workflow."""
    return FakeEntity(values={"email": "a@example.com", "budget": 5000}, lead_score=80)


def snapshot(project: Project) -> tuple:
    return (
        Project.objects.get(pk=project.pk).current_step_id,
        StatusHistory.objects.filter(project=project).count(),
        Event.objects.filter(name="wfm.status_changed").count(),
    )


def move(project, to_step, by, **kwargs):
    return services.project_transition(by=by, project=project, to_step=to_step, **kwargs)


# --- project_start ---------------------------------------------------------------------------


def test_start_puts_project_at_initial_step_with_first_history_row(flow, steps, rep1):
    project = services.project_start(by=rep1, workflow=flow[0], reason="Imported")

    assert project.current_step == steps["New"]
    assert project.workflow == flow[0]
    assert project.created_by == rep1
    (row,) = StatusHistory.objects.filter(project=project)
    assert row.from_step is None
    assert row.to_step == steps["New"]
    assert row.changed_by == rep1
    assert row.reason == "Imported"


def test_start_from_project_type_uses_its_default_workflow(rep1):
    lead_type = ProjectType.objects.get(entity_type="lead")

    project = services.project_start(by=rep1, project_type=lead_type)

    assert project.project_type == lead_type
    assert project.workflow.name == LEAD_QUALIFICATION
    assert project.current_step.name == LeadStep.NEW_LEAD


def test_start_with_type_and_workflow_uses_the_given_workflow(flow, steps, rep1):
    lead_type = ProjectType.objects.get(entity_type="lead")

    project = services.project_start(by=rep1, project_type=lead_type, workflow=flow[0])

    assert project.project_type == lead_type
    assert project.current_step == steps["New"]


def test_start_in_inactive_workflow_is_refused(flow, rep1):
    Workflow.objects.filter(pk=flow[0].pk).update(is_active=False)
    flow[0].refresh_from_db()

    with pytest.raises(ValidationFailed, match="not active"):
        services.project_start(by=rep1, workflow=flow[0])
    assert not Project.objects.filter(workflow=flow[0]).exists()


def test_start_in_workflow_without_initial_step_is_refused(rep1):
    workflow = WorkflowFactory()
    WorkflowStepFactory(workflow=workflow, is_initial=False)

    with pytest.raises(ValidationFailed, match="no initial step"):
        services.project_start(by=rep1, workflow=workflow)


def test_start_needs_a_project_type_or_a_workflow(rep1):
    with pytest.raises(ValidationFailed) as exc:
        services.project_start(by=rep1)
    assert "workflow" in exc.value.details


# --- allowed and refused moves ------------------------------------------------------------------


def test_allowed_move_changes_step_and_writes_history(project, steps, rep1):
    result = move(project, steps["Contacted"], rep1, reason="  Called them  ")

    assert result.current_step == steps["Contacted"]
    assert Project.objects.get(pk=project.pk).current_step == steps["Contacted"]
    assert project.current_step == steps["Contacted"]  # the caller's instance follows
    last = StatusHistory.objects.filter(project=project).last()
    assert (last.from_step, last.to_step) == (steps["New"], steps["Contacted"])
    assert last.changed_by == rep1
    assert last.reason == "Called them"
    assert last.is_system is False


def test_move_accepts_a_step_id(project, steps, rep1):
    move(project, steps["Contacted"].pk, rep1)

    assert Project.objects.get(pk=project.pk).current_step == steps["Contacted"]


def test_refused_move_names_the_steps_allowed_from_here(project, steps, rep1):
    before = snapshot(project)

    with pytest.raises(TransitionNotAllowed) as exc:
        move(project, steps["Qualified"], rep1, adapter=FakeEntity())

    error = exc.value
    assert isinstance(error, Conflict)
    assert (error.status, error.code) == (409, "transition_not_allowed")
    assert "Cannot move “Acme Corp” from “New” to “Qualified”" in error.message
    assert "Allowed from “New”: Contacted, Disqualified." in error.message
    assert error.details["allowed_steps"] == ["Contacted", "Disqualified"]
    assert error.details["to_step"] == [error.message]
    assert snapshot(project) == before


def test_move_from_a_step_without_exits_says_so(project, steps, rep1):
    move(project, steps["Converted"], rep1, system=True)

    with pytest.raises(TransitionNotAllowed, match="no move leaves that step"):
        move(project, steps["New"], rep1)


# --- guards -------------------------------------------------------------------------------------


@pytest.fixture
def contacted(project, steps, rep1):
    move(project, steps["Contacted"], rep1)
    return project


def test_missing_required_fields_are_named_by_label(contacted, steps, rep1):
    record = FakeEntity(
        values={"budget": None},
        labels={"email": "Contact email", "budget": "Budget"},
        lead_score=90,
    )
    before = snapshot(contacted)

    with pytest.raises(GuardFailed) as exc:
        move(contacted, steps["Qualified"], rep1, adapter=record)

    error = exc.value
    assert (error.status, error.code) == (409, "transition_guard_failed")
    assert "Fill in Contact email and Budget first." in error.message
    assert error.details["missing_fields"] == ["Contact email", "Budget"]
    assert snapshot(contacted) == before


def test_score_below_the_step_minimum_names_the_score_needed(contacted, steps, rep1):
    record = FakeEntity(values={"email": "a@example.com", "budget": 1}, lead_score=32)

    with pytest.raises(GuardFailed) as exc:
        move(contacted, steps["Qualified"], rep1, adapter=record)

    assert "Needs a lead score of at least 50 (currently 32)." in exc.value.message
    assert "missing_fields" not in exc.value.details


def test_unscored_record_cannot_enter_a_step_with_a_minimum_score(contacted, steps, rep1):
    record = FakeEntity(values={"email": "a@example.com", "budget": 1}, lead_score=None)

    with pytest.raises(GuardFailed, match=r"at least 50 \(not scored yet\)"):
        move(contacted, steps["Qualified"], rep1, adapter=record)


def test_every_failed_guard_is_reported_at_once(contacted, steps, rep1):
    with pytest.raises(GuardFailed) as exc:
        move(contacted, steps["Qualified"], rep1, adapter=FakeEntity(lead_score=10))

    assert exc.value.details["to_step"] == [
        "Fill in email and budget first.",
        "Needs a lead score of at least 50 (currently 10).",
    ]


def test_score_exactly_at_the_minimum_passes(contacted, steps, rep1, ready):
    ready.lead_score = 50

    move(contacted, steps["Qualified"], rep1, adapter=ready)

    assert Project.objects.get(pk=contacted.pk).current_step == steps["Qualified"]


def test_guarded_step_without_an_adapter_is_refused(contacted, steps, rep1):
    with pytest.raises(GuardFailed, match="cannot be checked"):
        move(contacted, steps["Qualified"], rep1)


def test_unguarded_step_needs_no_adapter(project, steps, rep1):
    move(project, steps["Disqualified"], rep1)

    assert Project.objects.get(pk=project.pk).current_step == steps["Disqualified"]


# --- history, events ----------------------------------------------------------------------------


def test_history_rows_chain(project, steps, rep1, rep2, ready):
    path = ["Contacted", "New", "Contacted", "Qualified", "Disqualified", "New"]
    for i, name in enumerate(path):
        move(project, steps[name], rep1 if i % 2 else rep2, adapter=ready)

    rows = list(StatusHistory.objects.filter(project=project).order_by("at", "pk"))
    assert [r.to_step.name for r in rows] == ["New", *path]
    assert rows[0].from_step is None
    for previous, row in zip(rows, rows[1:], strict=False):
        assert row.from_step_id == previous.to_step_id
    assert Project.objects.get(pk=project.pk).current_step_id == rows[-1].to_step_id


def test_move_writes_a_status_changed_event(project, steps, rep1, flow):
    move(project, steps["Contacted"], rep1)

    event = Event.objects.get(name="wfm.status_changed")
    assert event.actor == rep1
    assert event.payload == {
        "project_id": project.pk,
        "from_step_id": steps["New"].pk,
        "to_step_id": steps["Contacted"].pk,
        "workflow_id": flow[0].pk,
        "system": False,
    }


def test_stale_project_instance_moves_from_the_step_in_the_database(project, steps, rep1):
    stale = Project.objects.get(pk=project.pk)
    move(project, steps["Contacted"], rep1)

    # The stale copy still says "New"; the engine re-reads, so New → Disqualified is judged
    # from "Contacted" (allowed there too) and recorded as such.
    move(stale, steps["Disqualified"], rep1)

    last = StatusHistory.objects.filter(project=project).last()
    assert last.from_step == steps["Contacted"]
    with pytest.raises(AlreadyAtStep):
        move(stale, steps["Disqualified"], rep1)


# --- bad input: nothing is written ---------------------------------------------------------------


def test_move_to_the_current_step_is_refused(project, steps, rep1):
    before = snapshot(project)

    with pytest.raises(AlreadyAtStep) as exc:
        move(project, steps["New"], rep1, adapter=FakeEntity())

    assert exc.value.status == 409
    assert exc.value.message == "“Acme Corp” is already at “New”."
    assert snapshot(project) == before


def test_move_to_a_step_of_another_workflow_is_refused(project, rep1):
    elsewhere = WorkflowStepFactory(workflow=WorkflowFactory(name="Support"), order=1)
    before = snapshot(project)

    with pytest.raises(StepNotInWorkflow) as exc:
        move(project, elsewhere, rep1, adapter=FakeEntity())

    error = exc.value
    assert isinstance(error, Conflict)
    assert (error.status, error.code) == (409, "step_not_in_workflow")
    assert f"Step “{elsewhere.name}” is not part of workflow" in error.message
    assert "to_step" in error.details
    assert snapshot(project) == before


def test_system_move_to_a_step_of_another_workflow_is_refused_too(project, rep1):
    elsewhere = WorkflowStepFactory(workflow=WorkflowFactory(), order=1)

    with pytest.raises(StepNotInWorkflow):
        move(project, elsewhere, rep1, system=True)


def test_deleted_record_cannot_move(project, steps, rep1):
    before = snapshot(project)

    with pytest.raises(RecordDeleted) as exc:
        move(project, steps["Contacted"], rep1, adapter=FakeEntity(deleted=True))

    assert exc.value.status == 409
    assert "“Acme Corp” has been deleted" in exc.value.message
    assert snapshot(project) == before


def test_unknown_step_id_is_refused(project, rep1):
    with pytest.raises(ValidationFailed, match="There is no step 987654"):
        move(project, 987654, rep1)


def test_project_that_does_not_exist_is_not_found(steps, rep1):
    with pytest.raises(NotFound):
        move(Project(pk=987654), steps["Contacted"], rep1)


# --- system moves ---------------------------------------------------------------------------------


def test_system_move_bypasses_the_transition_list_but_is_recorded(project, steps, rep1, flow):
    move(project, steps["Converted"], rep1, system=True, reason="Converted to a deal")

    assert Project.objects.get(pk=project.pk).current_step == steps["Converted"]
    last = StatusHistory.objects.filter(project=project).last()
    assert (last.from_step, last.to_step) == (steps["New"], steps["Converted"])
    assert last.is_system is True
    assert last.reason == "Converted to a deal"
    event = Event.objects.get(name="wfm.status_changed")
    assert event.payload["system"] is True
    assert event.payload["to_step_id"] == steps["Converted"].pk


def test_system_move_still_checks_the_steps_guards(project, steps, rep1):
    with pytest.raises(GuardFailed):
        move(project, steps["Qualified"], rep1, system=True, adapter=FakeEntity(lead_score=99))


def test_system_move_of_a_deleted_record_is_refused(project, steps, rep1):
    with pytest.raises(RecordDeleted):
        move(project, steps["Converted"], rep1, system=True, adapter=FakeEntity(deleted=True))


# --- history is append-only --------------------------------------------------------------------


def test_status_history_rows_cannot_be_changed_or_deleted(project):
    row = StatusHistory.objects.get(project=project)
    row.reason = "rewritten"

    with pytest.raises(ValueError, match="append-only"):
        row.save()
    with pytest.raises(ValueError, match="append-only"):
        row.delete()


# --- workflow_duplicate ------------------------------------------------------------------------


def test_duplicate_copies_steps_and_transitions_as_an_inactive_copy(flow, admin_user):
    original = flow[0]

    copy = services.workflow_duplicate(by=admin_user, workflow=original)

    assert copy.name == f"Copy of {original.name}"
    assert copy.is_active is False
    assert copy.created_by == admin_user
    old = list(original.steps.order_by("order"))
    new = list(copy.steps.order_by("order"))
    fields = ["status_id", "order", "is_initial", "is_final", "probability", "outcome"]
    fields += ["min_lead_score", "required_fields", "metadata"]
    assert [[getattr(s, f) for f in fields] for s in new] == [
        [getattr(s, f) for f in fields] for s in old
    ]
    assert {(t.from_step.name, t.to_step.name, t.name) for t in copy.transitions.all()} == {
        (t.from_step.name, t.to_step.name, t.name) for t in original.transitions.all()
    }
    assert all(
        t.from_step.workflow_id == copy.pk and t.to_step.workflow_id == copy.pk
        for t in copy.transitions.all()
    )


def test_second_duplicate_gets_a_numbered_name(flow, admin_user):
    services.workflow_duplicate(by=admin_user, workflow=flow[0])
    second = services.workflow_duplicate(by=admin_user, workflow=flow[0])

    assert second.name == f"Copy of {flow[0].name} (2)"


def test_duplicate_needs_the_add_workflow_permission(flow, rep1):
    with pytest.raises(PermissionDenied):
        services.workflow_duplicate(by=rep1, workflow=flow[0])
    assert not WorkflowStep.objects.filter(workflow__name__startswith="Copy of").exists()
