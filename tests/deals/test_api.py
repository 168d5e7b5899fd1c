"""REST API /api/v1/deals/ (SPEC §7)."""

from datetime import date
from decimal import Decimal

import pytest

from crm import permissions
from deals.models import Deal
from tests.customfields.factories import CustomFieldFactory
from tests.deals.factories import make_deal
from tests.factories import OrganizationFactory, PersonFactory
from wfm.defaults import DealStep

URL = "/api/v1/deals/"


def assert_error_shape(response, status, code=None):
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details", "trace_id"}
    assert error["message"] and error["trace_id"]
    if code:
        assert error["code"] == code
    return error


def names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [d["name"] for d in response.json()["results"]]


# --- CRUD -------------------------------------------------------------------------------------
def test_create_read_update_delete(api_as, rep1, org, person, steps):
    client = api_as(rep1)
    created = client.post(
        URL,
        {
            "name": "API deal",
            "amount": "2500.00",
            "currency": "usd",
            "expected_close_date": "2030-03-31",
            "organization": str(org.pk),
            "person": str(person.pk),
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["name"] == "API deal" and body["currency"] == "USD"
    assert body["step"] == steps[DealStep.QUALIFICATION].pk
    assert body["step_name"] == DealStep.QUALIFICATION
    assert body["probability"] == 10 and body["weighted_amount"] == "250.00"
    assert body["organization_name"] == "Acme Robotics" and body["person_name"] == "Maria Lopez"
    assert body["owner"] == rep1.pk and body["source_lead"] is None
    assert body["won_at"] is None and body["custom_field_values"] == {}

    deal_url = f"{URL}{body['id']}/"
    assert client.get(deal_url).json() == body
    patched = client.patch(deal_url, {"amount": "100"}, format="json")
    assert patched.json()["amount"] == "100.00" and patched.json()["weighted_amount"] == "10.00"
    put = client.put(deal_url, {"name": "Renamed", "amount": "5"}, format="json")
    assert put.status_code == 200 and put.json()["name"] == "Renamed"
    assert client.delete(deal_url).status_code == 204
    assert_error_shape(client.get(deal_url), 404, "not_found")
    assert Deal.all_objects.get(pk=body["id"]).is_deleted


def test_representation_has_the_spec_field_names(api_as, rep1):
    make_deal(rep1)
    (row,) = api_as(rep1).get(URL).json()["results"]
    for field in (
        "name",
        "amount",
        "currency",
        "expected_close_date",
        "person",
        "organization",
        "owner",
        "assigned_to",
        "step",
        "step_name",
        "probability",
        "weighted_amount",
        "source_lead",
        "won_at",
        "lost_at",
        "lost_reason",
        "custom_field_values",
        "created_at",
        "updated_at",
    ):
        assert field in row


def test_list_shape_and_visibility(api_as, rep1, rep2, manager):
    make_deal(rep1, name="Mine")
    make_deal(rep2, name="Assigned", assigned_to=rep1)
    make_deal(rep2, name="Theirs")
    response = api_as(rep1).get(URL)
    assert set(response.json()) == {"count", "count_exact", "next", "previous", "results"}
    assert sorted(names(response)) == ["Assigned", "Mine"]
    assert len(names(api_as(manager).get(URL))) == 3


def test_another_reps_deal_is_404(api_as, rep1, rep2, manager):
    theirs = make_deal(rep2)
    assert_error_shape(api_as(rep1).get(f"{URL}{theirs.pk}/"), 404, "not_found")
    assert_error_shape(api_as(rep1).patch(f"{URL}{theirs.pk}/", {"name": "x"}, format="json"), 404)
    assert_error_shape(api_as(rep1).post(f"{URL}{theirs.pk}/won/"), 404)
    assert api_as(manager).get(f"{URL}{theirs.pk}/").status_code == 200


def test_malformed_id_is_404(api_as, rep1):
    assert_error_shape(api_as(rep1).get(f"{URL}not-a-uuid/"), 404)


def test_bad_input_is_400_with_field_details(api_as, rep1):
    response = api_as(rep1).post(
        URL, {"amount": "-3", "currency": "euro", "expected_close_date": "soon"}, format="json"
    )
    error = assert_error_shape(response, 400, "validation_error")
    assert set(error["details"]) == {"name", "amount", "currency", "expected_close_date"}


def test_invisible_person_is_400_naming_the_field(api_as, rep1, rep2):
    theirs = PersonFactory(owner=rep2)
    response = api_as(rep1).post(URL, {"name": "X", "person": str(theirs.pk)}, format="json")
    error = assert_error_shape(response, 400)
    assert error["details"] == {"person": ["Unknown person."]}


def test_custom_field_values_are_validated_and_returned(api_as, rep1):
    CustomFieldFactory(entity_type="deal", name="budget", label="Budget", type="number")
    client = api_as(rep1)
    bad = client.post(URL, {"name": "X", "custom_field_values": {"budget": "lots"}}, format="json")
    error = assert_error_shape(bad, 400, "validation_error")
    assert list(error["details"]) == ["custom_field_values.budget"]
    good = client.post(URL, {"name": "X", "custom_field_values": {"budget": 12}}, format="json")
    assert good.status_code == 201 and good.json()["custom_field_values"] == {"budget": 12}
    patched = client.patch(
        f"{URL}{good.json()['id']}/", {"custom_field_values": {"budget": None}}, format="json"
    )
    assert patched.json()["custom_field_values"] == {}


def test_analyst_reads_but_every_write_is_403(api_as, analyst, rep1, steps):
    deal = make_deal(rep1)
    client = api_as(analyst)
    assert client.get(f"{URL}{deal.pk}/").status_code == 200
    assert_error_shape(client.post(URL, {"name": "X"}, format="json"), 403, "permission_denied")
    assert_error_shape(client.patch(f"{URL}{deal.pk}/", {"name": "X"}, format="json"), 403)
    assert_error_shape(client.delete(f"{URL}{deal.pk}/"), 403)
    assert_error_shape(
        client.post(
            f"{URL}{deal.pk}/transition/",
            {"to_step": steps[DealStep.INITIAL_CONTACT].pk},
            format="json",
        ),
        403,
    )
    assert_error_shape(client.post(f"{URL}{deal.pk}/won/"), 403)
    assert_error_shape(client.post(f"{URL}{deal.pk}/lost/", {"reason": "x"}, format="json"), 403)
    assert_error_shape(
        client.post(f"{URL}{deal.pk}/assign/", {"user": analyst.pk}, format="json"), 403
    )


def test_viewer_sees_only_shared_deals_read_only(api_as, viewer, rep1):
    shared = make_deal(rep1, name="Shared")
    make_deal(rep1, name="Private")
    permissions.share(viewer, shared)
    client = api_as(viewer)
    assert names(client.get(URL)) == ["Shared"]
    assert_error_shape(client.patch(f"{URL}{shared.pk}/", {"name": "X"}, format="json"), 403)


# --- filters and ordering ---------------------------------------------------------------------
@pytest.fixture
def spread(rep1, rep2, manager):
    """Three deals with different values for every filter."""
    org = OrganizationFactory(owner=manager, name="Globex")
    person = PersonFactory(owner=manager, first_name="Zoe", last_name="Quinn")
    return {
        "alpha": make_deal(
            rep1,
            name="Alpha robots",
            amount=500,
            expected_close_date=date(2030, 1, 10),
            by=manager,
        ),
        "beta": make_deal(
            rep2,
            name="Beta",
            amount=5000,
            expected_close_date=date(2030, 6, 1),
            step=DealStep.PROPOSAL,
            assigned_to=rep1,
            by=manager,
            organization=org,
        ),
        "gamma": make_deal(
            rep2,
            name="Gamma",
            amount=50000,
            step=DealStep.CLOSED_WON,
            by=manager,
            person=person,
        ),
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("search=robots", ["Alpha robots"]),
        ("search=globex", ["Beta"]),
        ("search=quinn", ["Gamma"]),
        ("amount_min=1000", ["Beta", "Gamma"]),
        ("amount_max=5000", ["Alpha robots", "Beta"]),
        ("amount_min=1000&amount_max=10000", ["Beta"]),
        ("expected_close_after=2030-02-01", ["Beta"]),
        ("expected_close_before=2030-02-01", ["Alpha robots"]),
        ("outcome=open", ["Alpha robots", "Beta"]),
        ("outcome=won", ["Gamma"]),
        ("outcome=lost", []),
        ("assigned_to=none", ["Alpha robots", "Gamma"]),
    ],
)
def test_filters(api_as, manager, spread, query, expected):
    assert sorted(names(api_as(manager).get(f"{URL}?{query}"))) == expected


def test_step_owner_and_assignee_filters(api_as, manager, rep1, rep2, spread, steps):
    client = api_as(manager)
    proposal = steps[DealStep.PROPOSAL].pk
    won = steps[DealStep.CLOSED_WON].pk
    assert names(client.get(f"{URL}?step={proposal}")) == ["Beta"]
    assert sorted(names(client.get(f"{URL}?step={proposal},{won}"))) == ["Beta", "Gamma"]
    assert names(client.get(f"{URL}?owner={rep1.pk}")) == ["Alpha robots"]
    assert sorted(names(client.get(f"{URL}?owner={rep2.pk}"))) == ["Beta", "Gamma"]
    assert names(client.get(f"{URL}?assigned_to={rep1.pk}")) == ["Beta"]
    # Owned by rep1 (Alpha) or assigned to rep1 (Beta, owned by rep2): My day's "mine".
    mine = f"{URL}?owner_or_assignee={rep1.pk}"
    assert sorted(names(client.get(mine))) == ["Alpha robots", "Beta"]
    assert names(client.get(f"{URL}?owner_or_assignee={rep2.pk}&outcome=won")) == ["Gamma"]


def test_custom_field_filter(api_as, rep1):
    CustomFieldFactory(entity_type="deal", name="seats", label="Seats", type="number")
    make_deal(rep1, name="Small", custom_field_values={"seats": 5})
    make_deal(rep1, name="Large", custom_field_values={"seats": 500})
    client = api_as(rep1)
    assert names(client.get(f"{URL}?cf_seats=5")) == ["Small"]
    assert names(client.get(f"{URL}?cf_seats_min=100")) == ["Large"]
    assert names(client.get(f"{URL}?ordering=-cf_seats")) == ["Large", "Small"]
    error = assert_error_shape(client.get(f"{URL}?cf_nope=1"), 400)
    assert "cf_nope" in error["details"]


def test_bad_filter_value_is_400(api_as, rep1):
    assert_error_shape(api_as(rep1).get(f"{URL}?amount_min=lots"), 400, "validation_error")
    assert_error_shape(api_as(rep1).get(f"{URL}?assigned_to=bob"), 400)


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        ("amount", ["Alpha robots", "Beta", "Gamma"]),
        ("-amount", ["Gamma", "Beta", "Alpha robots"]),
        ("name", ["Alpha robots", "Beta", "Gamma"]),
        ("step", ["Alpha robots", "Beta", "Gamma"]),
        ("-probability", ["Gamma", "Beta", "Alpha robots"]),
        ("-weighted_amount", ["Gamma", "Beta", "Alpha robots"]),
        ("expected_close_date", ["Alpha robots", "Beta", "Gamma"]),  # no date: last
        ("-expected_close_date", ["Beta", "Alpha robots", "Gamma"]),
    ],
)
def test_ordering(api_as, manager, spread, ordering, expected):
    assert names(api_as(manager).get(f"{URL}?ordering={ordering}")) == expected


# --- actions ----------------------------------------------------------------------------------
def test_transition_action(api_as, rep1, steps):
    deal = make_deal(rep1)
    response = api_as(rep1).post(
        f"{URL}{deal.pk}/transition/",
        {"to_step": steps[DealStep.INITIAL_CONTACT].pk, "reason": "Met them"},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["step_name"] == DealStep.INITIAL_CONTACT
    assert response.json()["probability"] == 20


def test_refused_transition_is_409_with_the_error_shape(api_as, rep1, steps):
    deal = make_deal(rep1, step=DealStep.DISCOVERY)
    response = api_as(rep1).post(
        f"{URL}{deal.pk}/transition/",
        {"to_step": steps[DealStep.NEGOTIATION].pk},
        format="json",
    )
    error = assert_error_shape(response, 409, "transition_not_allowed")
    assert "Negotiation" in error["message"]
    assert error["details"]["allowed_steps"] == [
        DealStep.INITIAL_CONTACT,
        DealStep.PROPOSAL,
        DealStep.CLOSED_WON,
        DealStep.CLOSED_LOST,
    ]


def test_transition_input_errors(api_as, rep1, steps):
    deal = make_deal(rep1)
    client = api_as(rep1)
    assert_error_shape(client.post(f"{URL}{deal.pk}/transition/", {}, format="json"), 400)
    error = assert_error_shape(
        client.post(
            f"{URL}{deal.pk}/transition/",
            {"to_step": steps[DealStep.CLOSED_LOST].pk},
            format="json",
        ),
        409,
        "reason_required",
    )
    assert "reason" in error["details"]
    assert_error_shape(
        client.post(f"{URL}{deal.pk}/transition/", {"to_step": steps[DealStep.QUALIFICATION].pk}),
        409,
        "already_at_step",
    )


def test_won_and_lost_actions(api_as, rep1):
    client = api_as(rep1)
    won = make_deal(rep1, amount=100)
    body = client.post(f"{URL}{won.pk}/won/").json()
    assert (
        body["step_name"] == DealStep.CLOSED_WON and body["won_at"] and body["probability"] == 100
    )
    assert body["weighted_amount"] == "100.00"

    lost = make_deal(rep1)
    error = assert_error_shape(client.post(f"{URL}{lost.pk}/lost/", {"reason": ""}), 400)
    assert "reason" in error["details"]
    assert_error_shape(client.post(f"{URL}{lost.pk}/lost/", {}, format="json"), 400)
    body = client.post(f"{URL}{lost.pk}/lost/", {"reason": "Timing"}, format="json").json()
    assert body["step_name"] == DealStep.CLOSED_LOST and body["lost_at"]
    assert body["lost_reason"] == "Timing" and body["won_at"] is None

    assert_error_shape(client.post(f"{URL}{lost.pk}/won/"), 409, "transition_not_allowed")


def test_assign_action(api_as, rep1, rep2, manager):
    deal = make_deal(rep1)
    body = api_as(rep1).post(f"{URL}{deal.pk}/assign/", {"user": rep2.pk}, format="json").json()
    assert body["assigned_to"] == rep2.pk and body["assigned_to_name"] == rep2.display_name
    assert api_as(rep2).get(f"{URL}{deal.pk}/").status_code == 200

    third = make_deal(manager, assigned_to=rep2)
    response = api_as(rep2).post(f"{URL}{third.pk}/assign/", {"user": rep1.pk}, format="json")
    assert_error_shape(response, 403, "permission_denied")
    unassigned = api_as(manager).post(f"{URL}{deal.pk}/assign/", {"user": None}, format="json")
    assert unassigned.json()["assigned_to"] is None
    assert_error_shape(api_as(rep2).get(f"{URL}{deal.pk}/"), 404)


def test_history_lists_the_moves(api_as, rep1):
    deal = make_deal(rep1, step=DealStep.DISCOVERY)
    moves = api_as(rep1).get(f"{URL}{deal.pk}/history/").json()
    assert [m["to_step_name"] for m in moves] == [
        DealStep.QUALIFICATION,
        DealStep.INITIAL_CONTACT,
        DealStep.DISCOVERY,
    ]
    assert moves[0]["from_step"] is None and moves[1]["changed_by"] == rep1.pk


def test_create_with_assignee_and_owner_rules(api_as, rep1, rep2, manager):
    assert_error_shape(api_as(rep1).post(URL, {"name": "X", "owner": rep2.pk}, format="json"), 403)
    body = api_as(rep1).post(URL, {"name": "X", "assigned_to": rep2.pk}, format="json").json()
    assert body["assigned_to"] == rep2.pk
    body = api_as(manager).post(URL, {"name": "Y", "owner": rep1.pk}, format="json").json()
    assert body["owner"] == rep1.pk


@pytest.mark.parametrize("size", [3, 40])
def test_list_query_count_is_constant(
    api_as, rep1, org, person, size, django_assert_max_num_queries
):
    CustomFieldFactory(entity_type="deal", name="seats", type="number")
    for n in range(size):
        make_deal(
            rep1,
            organization=org,
            person=person,
            assigned_to=rep1,
            custom_field_values={"seats": n},
        )
    client = api_as(rep1)
    with django_assert_max_num_queries(10):
        response = client.get(f"{URL}?page_size=50")
    assert response.json()["count"] == size


def test_amount_is_a_decimal_string(api_as, rep1):
    make_deal(rep1, amount=Decimal("1234.5"))
    assert api_as(rep1).get(URL).json()["results"][0]["amount"] == "1234.50"
