import pytest

from leads.models import Lead
from tests.crm.test_api import assert_error_shape
from tests.leads.factories import LeadFactory
from wfm.defaults import LeadStep


def test_create_returns_step_and_step_name(api_as, rep1):
    response = api_as(rep1).post(
        "/api/v1/leads/", {"name": "Website", "contact_email": "a@b.com", "source": "web"}
    )
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["step_name"] == LeadStep.NEW_LEAD and isinstance(data["step"], int)
    assert data["owner"] == rep1.pk and data["source"] == "web"


def test_bad_input_is_400_naming_fields(api_as, rep1):
    response = api_as(rep1).post("/api/v1/leads/", {"contact_email": "x", "source": "telepathy"})
    error = assert_error_shape(response, 400, "validation_error")
    assert {"name", "contact_email", "source"} <= set(error["details"])


def test_list_shows_only_visible_leads(api_as, rep1, rep2, manager):
    mine = LeadFactory(owner=rep1)
    assigned = LeadFactory(owner=rep2, assigned_to=rep1)
    LeadFactory(owner=rep2)
    ids = {r["id"] for r in api_as(rep1).get("/api/v1/leads/").json()["results"]}
    assert ids == {str(mine.pk), str(assigned.pk)}
    assert api_as(manager).get("/api/v1/leads/").json()["count"] == 3


def test_other_reps_lead_is_404_everywhere(api_as, rep1, rep2):
    lead = LeadFactory(owner=rep2)
    client = api_as(rep1)
    for path in ["", "history/"]:
        assert_error_shape(client.get(f"/api/v1/leads/{lead.pk}/{path}"), 404)
    for action in ["transition", "qualify", "disqualify", "convert", "assign"]:
        assert_error_shape(client.post(f"/api/v1/leads/{lead.pk}/{action}/", {}), 404)
    assert_error_shape(client.patch(f"/api/v1/leads/{lead.pk}/", {"name": "x"}), 404)
    assert_error_shape(client.delete(f"/api/v1/leads/{lead.pk}/"), 404)


def test_analyst_reads_but_cannot_write(api_as, analyst, rep1):
    lead = LeadFactory(owner=rep1)
    client = api_as(analyst)
    assert client.get(f"/api/v1/leads/{lead.pk}/").status_code == 200
    assert_error_shape(client.patch(f"/api/v1/leads/{lead.pk}/", {"name": "x"}), 403)
    assert_error_shape(client.post("/api/v1/leads/", {"name": "x"}), 403)
    assert_error_shape(client.post(f"/api/v1/leads/{lead.pk}/qualify/", {}), 403)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("search=acme", {"acme"}),
        ("source=referral", {"ref"}),
        ("is_qualified=true", {"qual"}),
        ("score_min=50", {"hot"}),
        ("score_max=10", {"acme", "ref", "qual"}),
        ("priority=urgent", {"ref"}),
        ("created_after=2000-01-01&created_before=2999-01-01", {"acme", "ref", "qual", "hot"}),
        ("close_after=2030-01-01", {"hot"}),
    ],
)
def test_filters(api_as, manager, rep1, query, expected):
    LeadFactory(owner=rep1, name="acme", company_name="Acme Corp", lead_score=5)
    LeadFactory(
        owner=rep1, name="ref", source=Lead.Source.REFERRAL, priority="urgent", lead_score=0
    )
    LeadFactory(owner=rep1, name="qual", is_qualified=True, lead_score=10)
    LeadFactory(owner=rep1, name="hot", lead_score=80, estimated_close_date="2030-06-01")
    names = {r["name"] for r in api_as(manager).get(f"/api/v1/leads/?{query}").json()["results"]}
    assert names == expected


def test_filter_by_step_owner_and_assignee(api_as, manager, rep1, rep2, steps):
    moved = LeadFactory(owner=rep1, assigned_to=rep2)
    LeadFactory(owner=rep2)
    api_as(rep1).post(
        f"/api/v1/leads/{moved.pk}/transition/", {"to_step": steps[LeadStep.CONTACTED].pk}
    )
    client = api_as(manager)
    step_id = steps[LeadStep.CONTACTED].pk
    assert [r["id"] for r in client.get(f"/api/v1/leads/?step={step_id}").json()["results"]] == [
        str(moved.pk)
    ]
    assert client.get(f"/api/v1/leads/?owner={rep2.pk}").json()["count"] == 1
    assert client.get(f"/api/v1/leads/?assigned_to={rep2.pk}").json()["count"] == 1
    assert client.get("/api/v1/leads/?assigned_to=0").json()["count"] == 1


def test_rep_filters_never_reach_other_reps_leads(api_as, rep1, rep2):
    LeadFactory(owner=rep2, name="secret", lead_score=90)
    client = api_as(rep1)
    for query in ["search=secret", f"owner={rep2.pk}", "score_min=80", "ordering=-lead_score"]:
        assert client.get(f"/api/v1/leads/?{query}").json()["count"] == 0


def test_ordering_by_score(api_as, manager, rep1):
    for score in (10, 90, 50):
        LeadFactory(owner=rep1, lead_score=score)
    results = api_as(manager).get("/api/v1/leads/?ordering=-lead_score").json()["results"]
    assert [r["lead_score"] for r in results] == [90, 50, 10]


def test_refused_transition_is_409(api_as, rep1, steps):
    lead = LeadFactory(owner=rep1)
    response = api_as(rep1).post(
        f"/api/v1/leads/{lead.pk}/transition/", {"to_step": steps[LeadStep.QUALIFIED].pk}
    )
    error = assert_error_shape(response, 409, "transition_not_allowed")
    assert LeadStep.CONTACTED in error["message"]


def test_qualify_disqualify_assign_actions(api_as, rep1, rep2):
    client = api_as(rep1)
    lead = LeadFactory(owner=rep1)
    assert client.post(f"/api/v1/leads/{lead.pk}/qualify/", {"notes": "ok"}).json()["is_qualified"]
    other = LeadFactory(owner=rep1)
    data = client.post(f"/api/v1/leads/{other.pk}/disqualify/", {"reason": "Spam"}).json()
    assert data["step_name"] == LeadStep.DISQUALIFIED and data["disqualify_reason"] == "Spam"
    assert_error_shape(client.post(f"/api/v1/leads/{other.pk}/qualify/", {}), 409)
    assigned = client.post(f"/api/v1/leads/{lead.pk}/assign/", {"user": rep2.pk}).json()
    assert assigned["assigned_to"] == rep2.pk


def test_convert_returns_ids_and_second_is_409(api_as, rep1):
    lead = LeadFactory(owner=rep1, contact_name="Ann Lee", company_name="Acme")
    client = api_as(rep1)
    response = client.post(
        f"/api/v1/leads/{lead.pk}/convert/",
        {"person": True, "organization": True, "deal": {"name": "Deal A", "amount": "500.00"}},
        format="json",
    )
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["person"] and data["organization"] and data["deal"]
    deal = client.get(f"/api/v1/leads/{lead.pk}/").json()
    assert deal["converted_to_deal"] == data["deal"] and deal["step_name"] == LeadStep.CONVERTED
    again = client.post(f"/api/v1/leads/{lead.pk}/convert/", {}, format="json")
    assert_error_shape(again, 409, "already_converted")


def test_convert_with_unknown_deal_field_is_400(api_as, rep1):
    lead = LeadFactory(owner=rep1)
    response = api_as(rep1).post(
        f"/api/v1/leads/{lead.pk}/convert/", {"deal": {"colour": "red"}}, format="json"
    )
    assert_error_shape(response, 400)


def test_convert_refused_by_a_required_organization_field_is_400_naming_it(api_as, rep1):
    from tests.customfields.factories import CustomFieldFactory

    CustomFieldFactory(
        entity_type="organization", name="tier", label="Tier", type="text", is_required=True
    )
    lead = LeadFactory(owner=rep1, contact_name="Ann Lee", company_name="Acme")
    response = api_as(rep1).post(f"/api/v1/leads/{lead.pk}/convert/", {}, format="json")
    error = assert_error_shape(response, 400, "validation_error")
    assert error["message"].startswith("The new organization cannot be created: Tier:")
    assert error["details"] == {
        "organization.custom_field_values.tier": ["New organization: Tier: this field is required."]
    }


def test_history_lists_field_changes_and_step_moves(api_as, rep1, steps):
    lead = LeadFactory(owner=rep1)
    client = api_as(rep1)
    client.patch(f"/api/v1/leads/{lead.pk}/", {"name": "Renamed"})
    client.post(f"/api/v1/leads/{lead.pk}/transition/", {"to_step": steps[LeadStep.CONTACTED].pk})
    history = client.get(f"/api/v1/leads/{lead.pk}/history/").json()
    kinds = [h["kind"] for h in history]
    assert "step" in kinds and "changed" in kinds
    change = next(h for h in history if h["kind"] == "changed")
    assert change["user"] == rep1.display_name
    assert change["changes"][0]["field"] == "name" and change["changes"][0]["new"] == "Renamed"
    move = next(h for h in history if h["kind"] == "step" and h["from_step"])
    assert (move["from_step"], move["to_step"]) == (LeadStep.NEW_LEAD, LeadStep.CONTACTED)


@pytest.mark.parametrize("rows", [3, 40])
def test_list_query_count_is_constant(api_as, rep1, rows, django_assert_max_num_queries):
    for _ in range(rows):
        LeadFactory(owner=rep1)
    client = api_as(rep1)
    with django_assert_max_num_queries(10):
        assert client.get("/api/v1/leads/?page_size=50").json()["count"] == rows


def test_qualified_and_converted_day_filters_read_local_days(api_as, manager, rep1, settings):
    """``qualified_after`` / ``_before`` and ``converted_after`` / ``_before`` take whole local
    days (both included), like the dashboard's periods, whatever the lead's flags say now."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    settings.TIME_ZONE = "Europe/Berlin"
    berlin = ZoneInfo("Europe/Berlin")
    late = LeadFactory(owner=rep1, name="late")  # 23:30 local on 2 March: still 2 March
    Lead.objects.filter(pk=late.pk).update(
        qualified_at=datetime(2026, 3, 2, 23, 30, tzinfo=berlin), is_qualified=False
    )
    early = LeadFactory(owner=rep1, name="early")
    Lead.objects.filter(pk=early.pk).update(
        qualified_at=datetime(2026, 3, 3, 0, 10, tzinfo=berlin),
        converted_at=datetime(2026, 3, 4, 9, 0, tzinfo=berlin),
    )
    LeadFactory(owner=rep1, name="never")
    client = api_as(manager)

    def names(query: str) -> set[str]:
        return {r["name"] for r in client.get(f"/api/v1/leads/?{query}").json()["results"]}

    assert names("qualified_after=2026-03-02&qualified_before=2026-03-02") == {"late"}
    assert names("qualified_after=2026-03-03") == {"early"}
    assert names("qualified_before=2026-03-03") == {"late", "early"}
    assert names("converted_after=2026-03-01&converted_before=2026-03-04") == {"early"}
    assert names("converted_before=2026-03-03") == set()


def test_owner_or_assignee_filter(api_as, manager, rep1, rep2):
    owned = LeadFactory(owner=rep1, name="owned")
    LeadFactory(owner=rep2, assigned_to=rep1, name="assigned")
    LeadFactory(owner=rep2, name="theirs")
    Lead.objects.filter(pk=owned.pk).update(assigned_to=rep2)  # owned, given to someone else
    client = api_as(manager)
    found = client.get(f"/api/v1/leads/?owner_or_assignee={rep1.pk}").json()["results"]
    assert {r["name"] for r in found} == {"owned", "assigned"}
    assert client.get("/api/v1/leads/?owner_or_assignee=x").status_code == 400
    # A rep's filter never reaches what it may not see: rep2's own "theirs" stays hidden.
    found = api_as(rep1).get(f"/api/v1/leads/?owner_or_assignee={rep2.pk}").json()["results"]
    assert {r["name"] for r in found} == {"owned", "assigned"}


def test_state_and_inactive_days_filters(api_as, rep1):
    from datetime import timedelta

    from django.utils import timezone

    from leads import services

    open_lead = LeadFactory(owner=rep1, name="Open")
    dropped = LeadFactory(owner=rep1, name="Dropped")
    services.lead_disqualify(by=rep1, lead=dropped, reason="No budget")
    Lead.objects.filter(pk=open_lead.pk).update(last_activity_at=timezone.now())
    api = api_as(rep1)

    def names(query):
        response = api.get(f"/api/v1/leads/?{query}")
        assert response.status_code == 200, response.content
        return {row["name"] for row in response.json()["results"]}

    assert names("state=open") == {"Open"}
    assert names("state=disqualified") == {"Dropped"}
    assert names("state=closed") == {"Dropped"}
    assert names("inactive_days=3") == {"Dropped"}  # never any activity
    Lead.objects.filter(pk=open_lead.pk).update(last_activity_at=timezone.now() - timedelta(days=5))
    assert names("inactive_days=3") == {"Open", "Dropped"}
    assert names("inactive_days=0") == {"Open", "Dropped"}  # no filter
    assert names("inactive_days=99999999999") == {"Dropped"}  # ten years at most: never
    assert_error_shape(api.get("/api/v1/leads/?state=asleep"), 400, "validation_error")
