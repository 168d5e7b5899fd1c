"""Workflow configuration in the Django admin: validation, diagram, deletion guard, duplicate."""

import re

import pytest
from django.urls import reverse

from tests.wfm.factories import StatusFactory, build_workflow
from wfm import services
from wfm.defaults import LEAD_QUALIFICATION, SALES_PIPELINE, DealStep, LeadStep
from wfm.models import Project, Status, Workflow, WorkflowStep, WorkflowTransition


@pytest.fixture
def client(client, admin_user):
    client.force_login(admin_user)
    return client


def change_url(workflow: Workflow) -> str:
    return reverse("admin:wfm_workflow_change", args=[workflow.pk])


def form_data(response) -> dict[str, str]:
    """The POST data a browser would send back from an admin change form, unchanged."""
    data: dict[str, str] = {}

    def add(form):
        for bound in form:
            value = bound.value()
            if bound.widget_type == "checkbox":
                if value:
                    data[bound.html_name] = "on"
            else:
                data[bound.html_name] = "" if value is None else str(value)
            if bound.field.show_hidden_initial:  # fields with callable defaults (JSON)
                data[bound.html_initial_name] = str(bound.field.prepare_value(bound.initial))

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        add(formset.management_form)
        for form in formset.forms:
            add(form)
    return data


def diagram_of(html: str) -> str:
    start = html.index('<figure class="wfm-diagram">')
    return html[start : html.index("</figure>", start)]


def row(data: dict[str, str], prefix: str, step_name: str) -> str:
    """The form prefix (``steps-2``) of the step row whose status is ``step_name``."""
    status_id = str(Status.objects.get(name=step_name).pk)
    for key, value in data.items():
        match = re.fullmatch(rf"({prefix}-\d+)-status", key)
        if match and value == status_id:
            return match.group(1)
    raise AssertionError(f"no row for {step_name}")


def errors_of(response) -> str:
    assert response.status_code == 200, "the form was saved but should have been refused"
    return "\n".join(
        str(error)
        for inline in response.context["inline_admin_formsets"]
        for error in [*inline.formset.non_form_errors(), *inline.formset.errors]
        if error
    )


@pytest.fixture
def lead_workflow(db):
    return Workflow.objects.get(name=LEAD_QUALIFICATION)


@pytest.fixture
def lead_form(client, lead_workflow):
    return form_data(client.get(change_url(lead_workflow)))


# --- the change page and its diagram ---------------------------------------------------------


def test_change_page_draws_the_workflow_as_svg(client, lead_workflow):
    response = client.get(change_url(lead_workflow))

    assert response.status_code == 200
    html = response.content.decode()
    svg = diagram_of(html)
    for name in ["New Lead", "Contacted", "Qualified", "Converted", "Disqualified"]:
        assert f">{name}</text>" in svg
    assert svg.count(f'marker-end="url(#wfm-arrow-wf{lead_workflow.pk})"') == (
        lead_workflow.transitions.count()
    )
    assert "Disqualified → New Lead: Reopen" in svg
    assert "<script" not in svg


def test_diagram_shows_every_step_of_the_sales_pipeline(client):
    workflow = Workflow.objects.get(name=SALES_PIPELINE)

    html = client.get(change_url(workflow)).content.decode()

    svg = diagram_of(html)
    for step in workflow.steps.all():
        assert f">{step.name}</text>" in svg
    assert ">start · 10%</text>" in svg
    assert ">won · 100%</text>" in svg


def test_list_add_and_other_admin_pages_load(client, lead_workflow):
    project = services.project_start(by=None, workflow=lead_workflow)
    for url in [
        reverse("admin:wfm_workflow_changelist"),
        reverse("admin:wfm_workflow_add"),
        reverse("admin:wfm_status_changelist"),
        reverse("admin:wfm_projecttype_changelist"),
        reverse("admin:wfm_projecttype_change", args=[lead_workflow.project_types.get().pk]),
        reverse("admin:wfm_project_changelist"),
        reverse("admin:wfm_project_change", args=[project.pk]),
    ]:
        assert client.get(url).status_code == 200, url


def test_status_colour_is_picked_with_a_colour_input(client):
    status = Status.objects.get(name=LeadStep.NEW_LEAD)

    html = client.get(reverse("admin:wfm_status_change", args=[status.pk])).content.decode()

    assert re.search(r'<input type="color" name="color" value="#3b82f6"', html)


# --- a valid save --------------------------------------------------------------------------


def test_unchanged_form_saves(client, lead_workflow, lead_form):
    response = client.post(change_url(lead_workflow), lead_form)

    assert response.status_code == 302
    assert lead_workflow.steps.count() == 5
    assert lead_workflow.transitions.count() == 9


def test_swapping_orders_and_moving_the_initial_flag_saves(client, lead_workflow, lead_form):
    new_lead = row(lead_form, "steps", LeadStep.NEW_LEAD)
    contacted = row(lead_form, "steps", LeadStep.CONTACTED)
    lead_form[f"{new_lead}-order"], lead_form[f"{contacted}-order"] = "2", "1"
    del lead_form[f"{new_lead}-is_initial"]
    lead_form[f"{contacted}-is_initial"] = "on"

    response = client.post(change_url(lead_workflow), lead_form)

    assert response.status_code == 302
    steps = {s.name: s for s in lead_workflow.steps.select_related("status")}
    assert (steps["Contacted"].order, steps["Contacted"].is_initial) == (1, True)
    assert (steps["New Lead"].order, steps["New Lead"].is_initial) == (2, False)
    assert sorted(s.order for s in steps.values()) == [1, 2, 3, 4, 5]


def test_new_workflow_is_added_with_its_steps(client, admin_user):
    response = client.get(reverse("admin:wfm_workflow_add"))
    data = form_data(response)
    data.update({"name": "Support", "description": "Tickets", "is_active": "on"})
    for i, (name, initial) in enumerate([("Open", True), ("Closed", False)]):
        data[f"steps-{i}-status"] = str(StatusFactory(name=name).pk)
        data[f"steps-{i}-order"] = str(i + 1)
        data[f"steps-{i}-probability"] = "0"
        data[f"steps-{i}-outcome"] = "none"
        data[f"steps-{i}-required_fields"] = "[]"
        data[f"steps-{i}-metadata"] = "{}"
        if initial:
            data[f"steps-{i}-is_initial"] = "on"

    response = client.post(reverse("admin:wfm_workflow_add"), data)

    assert response.status_code == 302
    workflow = Workflow.objects.get(name="Support")
    assert workflow.created_by == admin_user
    assert [(s.name, s.is_initial) for s in workflow.steps.order_by("order")] == [
        ("Open", True),
        ("Closed", False),
    ]


# --- an invalid workflow is not saved, and the admin says why --------------------------------


def test_two_initial_steps_are_refused(client, lead_workflow, lead_form):
    lead_form[f"{row(lead_form, 'steps', LeadStep.CONTACTED)}-is_initial"] = "on"

    response = client.post(change_url(lead_workflow), lead_form)

    assert (
        "A workflow needs exactly one initial step (where new records start); 2 are marked "
        "initial: “New Lead” and “Contacted”."
    ) in errors_of(response)
    assert lead_workflow.steps.filter(is_initial=True).count() == 1


def test_no_initial_step_is_refused(client, lead_workflow, lead_form):
    del lead_form[f"{row(lead_form, 'steps', LeadStep.NEW_LEAD)}-is_initial"]

    response = client.post(change_url(lead_workflow), lead_form)

    assert "none is marked initial" in errors_of(response)


def test_duplicate_order_is_refused(client, lead_workflow, lead_form):
    lead_form[f"{row(lead_form, 'steps', LeadStep.QUALIFIED)}-order"] = "2"

    response = client.post(change_url(lead_workflow), lead_form)

    assert (
        "Each step needs its own order: “Contacted” and “Qualified” all have order 2."
        in errors_of(response)
    )
    assert lead_workflow.steps.get(status__name=LeadStep.QUALIFIED).order == 3


def test_same_status_twice_is_refused(client, lead_workflow, lead_form):
    qualified = row(lead_form, "steps", LeadStep.QUALIFIED)
    lead_form[f"{qualified}-status"] = str(Status.objects.get(name=LeadStep.CONTACTED).pk)

    response = client.post(change_url(lead_workflow), lead_form)

    assert "Status “Contacted” is used by 2 steps" in errors_of(response)


def test_transition_to_another_workflows_step_is_refused(client, lead_workflow, lead_form):
    foreign = WorkflowStep.objects.get(
        workflow__name=SALES_PIPELINE, status__name=DealStep.PROPOSAL
    )
    lead_form["transitions-0-to_step"] = str(foreign.pk)

    response = client.post(change_url(lead_workflow), lead_form)

    assert (
        "That step is not part of this workflow: a transition must stay inside its workflow."
        in errors_of(response)
    )
    assert not WorkflowTransition.objects.filter(workflow=lead_workflow, to_step=foreign).exists()


def test_transition_to_its_own_step_is_refused(client, lead_workflow, lead_form):
    lead_form["transitions-0-to_step"] = lead_form["transitions-0-from_step"]

    response = client.post(change_url(lead_workflow), lead_form)

    assert "A transition must lead to another step" in errors_of(response)


def test_the_same_move_twice_is_refused(client, lead_workflow, lead_form):
    lead_form["transitions-9-from_step"] = lead_form["transitions-0-from_step"]
    lead_form["transitions-9-to_step"] = lead_form["transitions-0-to_step"]
    lead_form["transitions-9-name"] = "Again"

    response = client.post(change_url(lead_workflow), lead_form)

    assert "is listed 2 times; list each move once." in errors_of(response)
    assert lead_workflow.transitions.count() == 9


# --- deleting steps ------------------------------------------------------------------------------


def test_step_with_records_on_it_cannot_be_deleted(client, lead_workflow, lead_form, rep1):
    contacted = lead_workflow.steps.get(status__name=LeadStep.CONTACTED)
    for _ in range(3):
        project = services.project_start(by=rep1, workflow=lead_workflow)
        services.project_transition(by=rep1, project=project, to_step=contacted)
    lead_form[f"{row(lead_form, 'steps', LeadStep.CONTACTED)}-DELETE"] = "on"

    response = client.post(change_url(lead_workflow), lead_form)

    assert (
        "Cannot delete step “Contacted”: 3 records stand on it. Move them to another step first."
    ) in errors_of(response)
    assert WorkflowStep.objects.filter(pk=contacted.pk).exists()
    assert Project.objects.filter(current_step=contacted).count() == 3


def test_step_in_records_history_cannot_be_deleted(client, lead_workflow, lead_form, rep1):
    contacted = lead_workflow.steps.get(status__name=LeadStep.CONTACTED)
    project = services.project_start(by=rep1, workflow=lead_workflow)
    services.project_transition(by=rep1, project=project, to_step=contacted)
    services.project_transition(
        by=rep1, project=project, to_step=lead_workflow.steps.get(status__name="Disqualified")
    )
    lead_form[f"{row(lead_form, 'steps', LeadStep.CONTACTED)}-DELETE"] = "on"

    response = client.post(change_url(lead_workflow), lead_form)

    assert "the status history of records that passed through it (2 moves)" in errors_of(response)


def test_unused_step_is_deleted_with_its_transitions(client):
    workflow, steps = build_workflow(["Open", "Waiting", "Closed"], [("Open", "Waiting")])
    data = form_data(client.get(change_url(workflow)))
    data[f"{row(data, 'steps', 'Waiting')}-DELETE"] = "on"

    response = client.post(change_url(workflow), data)

    assert response.status_code == 302
    assert [s.name for s in workflow.steps.order_by("order")] == ["Open", "Closed"]
    assert not workflow.transitions.exists()


# --- duplicate action -------------------------------------------------------------------------


def test_duplicate_action_copies_the_workflow(client, lead_workflow):
    response = client.post(
        reverse("admin:wfm_workflow_changelist"),
        {"action": "duplicate_workflows", "_selected_action": [lead_workflow.pk]},
        follow=True,
    )

    copy = Workflow.objects.get(name=f"Copy of {LEAD_QUALIFICATION}")
    assert copy.is_active is False
    assert [s.name for s in copy.steps.order_by("order")] == [
        s.name for s in lead_workflow.steps.order_by("order")
    ]
    assert copy.transitions.count() == lead_workflow.transitions.count()
    assert not copy.transitions.exclude(from_step__workflow=copy).exists()
    assert not copy.transitions.exclude(to_step__workflow=copy).exists()
    assert "Created “Copy of Lead Qualification” (inactive)" in response.content.decode()


# --- managers look but do not touch --------------------------------------------------------------


def test_manager_may_view_a_workflow_but_not_change_it(client, manager, lead_workflow, lead_form):
    client.force_login(manager)

    assert client.get(change_url(lead_workflow)).status_code == 200
    lead_form["name"] = "Renamed"
    assert client.post(change_url(lead_workflow), lead_form).status_code == 403
    assert Workflow.objects.filter(name=LEAD_QUALIFICATION).exists()


def test_deleting_a_step_and_giving_its_status_to_another_saves(client):
    workflow, steps = build_workflow(["Open", "Waiting", "Closed"], [])
    data = form_data(client.get(change_url(workflow)))
    data[f"{row(data, 'steps', 'Waiting')}-DELETE"] = "on"
    data[f"{row(data, 'steps', 'Closed')}-status"] = str(steps["Waiting"].status_id)

    response = client.post(change_url(workflow), data)

    assert response.status_code == 302
    assert [s.name for s in workflow.steps.order_by("order")] == ["Open", "Waiting"]


def test_steps_trading_statuses_in_one_save_are_told_to_do_it_in_two(client, lead_workflow):
    data = form_data(client.get(change_url(lead_workflow)))
    contacted = row(data, "steps", LeadStep.CONTACTED)
    qualified = row(data, "steps", LeadStep.QUALIFIED)
    data[f"{contacted}-status"], data[f"{qualified}-status"] = (
        data[f"{qualified}-status"],
        data[f"{contacted}-status"],
    )

    response = client.post(change_url(lead_workflow), data)

    assert "Steps cannot trade statuses (“Qualified” and “Contacted”) in one save" in errors_of(
        response
    )
