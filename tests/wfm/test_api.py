"""GET /api/v1/workflows/ (SPEC §7): read-only, steps and transitions nested."""

import pytest

from tests.wfm.factories import WorkflowFactory, build_workflow
from wfm.defaults import LEAD_QUALIFICATION, SALES_PIPELINE, DealStep, LeadStep
from wfm.models import Workflow

URL = "/api/v1/workflows/"
STEP_KEYS = {
    "id",
    "name",
    "order",
    "is_initial",
    "is_final",
    "probability",
    "outcome",
    "min_lead_score",
    "required_fields",
    "color",
    "metadata",
}


def test_default_workflows_are_served_with_steps_and_transitions(api_as, rep1):
    response = api_as(rep1).get(URL)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    workflows = {w["name"]: w for w in body["results"]}
    assert set(workflows) == {LEAD_QUALIFICATION, SALES_PIPELINE}

    lead = workflows[LEAD_QUALIFICATION]
    assert [s["name"] for s in lead["steps"]] == [
        LeadStep.NEW_LEAD,
        LeadStep.CONTACTED,
        LeadStep.QUALIFIED,
        LeadStep.CONVERTED,
        LeadStep.DISQUALIFIED,
    ]
    new_lead = lead["steps"][0]
    assert set(new_lead) == STEP_KEYS
    assert new_lead["is_initial"] is True
    assert new_lead["metadata"] == {"suggested_min_score": 0}
    assert new_lead["min_lead_score"] is None
    assert new_lead["required_fields"] == []
    assert new_lead["color"].startswith("#")

    ids = {s["id"]: s["name"] for s in lead["steps"]}
    moves = {(ids[t["from_step"]], ids[t["to_step"]], t["name"]) for t in lead["transitions"]}
    assert (LeadStep.DISQUALIFIED, LeadStep.NEW_LEAD, "Reopen") in moves
    assert set(lead["transitions"][0]) == {"id", "from_step", "to_step", "name"}

    deal = workflows[SALES_PIPELINE]
    assert {s["name"]: s["probability"] for s in deal["steps"]}[DealStep.NEGOTIATION] == 75


def test_list_query_count_does_not_grow_with_the_number_of_workflows(
    api_as, rep1, django_assert_max_num_queries
):
    client = api_as(rep1)
    with django_assert_max_num_queries(4):
        assert len(client.get(URL).json()["results"]) == 2

    for i in range(6):
        build_workflow([f"S{i}a", f"S{i}b", f"S{i}c"], [(f"S{i}a", f"S{i}b")])
    with django_assert_max_num_queries(4):
        assert len(client.get(URL).json()["results"]) == 8


def test_detail(api_as, rep1, django_assert_max_num_queries):
    workflow = Workflow.objects.get(name=SALES_PIPELINE)

    with django_assert_max_num_queries(3):
        response = api_as(rep1).get(f"{URL}{workflow.pk}/")

    assert response.status_code == 200
    assert response.json()["name"] == SALES_PIPELINE
    assert len(response.json()["steps"]) == 7


@pytest.mark.parametrize("who", ["admin_user", "manager", "rep2", "analyst", "viewer"])
def test_every_signed_in_user_may_read_workflows(api_as, request, who):
    assert api_as(request.getfixturevalue(who)).get(URL).status_code == 200


def test_anonymous_users_get_the_error_shape(api, db):
    response = api.get(URL)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_missing_workflow_is_404_in_the_error_shape(api_as, rep1):
    response = api_as(rep1).get(f"{URL}987654/")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_workflows_are_read_only(api_as, admin_user):
    client = api_as(admin_user)
    workflow = Workflow.objects.get(name=SALES_PIPELINE)

    assert client.post(URL, {"name": "X"}).status_code == 405
    assert client.patch(f"{URL}{workflow.pk}/", {"name": "X"}).status_code == 405
    assert client.delete(f"{URL}{workflow.pk}/").status_code == 405
    assert Workflow.objects.filter(name=SALES_PIPELINE).exists()


def test_filter_by_is_active_and_search(api_as, rep1):
    WorkflowFactory(name="Support tickets", is_active=False)
    client = api_as(rep1)

    inactive = client.get(URL, {"is_active": "false"}).json()["results"]
    assert [w["name"] for w in inactive] == ["Support tickets"]
    found = client.get(URL, {"search": "pipeline"}).json()["results"]
    assert [w["name"] for w in found] == [SALES_PIPELINE]
