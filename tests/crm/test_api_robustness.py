"""Bad input never fails the API (issue 14): every malformed id, filter, page size, body or
path is a 400 or 404 with the SPEC §7 error shape, never a 500 or an HTML page."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from activities.models import Activity
from tests.activities.factories import ActivityFactory
from tests.crm.test_api import assert_error_shape
from tests.customfields.factories import CustomFieldFactory
from tests.deals.factories import make_deal
from tests.factories import OrganizationFactory, PersonFactory, UserFactory
from tests.leads.factories import LeadFactory

HUGE = "99999999999999999999"  # beyond 64 bits
BIG = str(2**63)  # one past the largest 64-bit integer


# --- ids in the path --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/webhooks/{id}/"),
        ("patch", "/api/v1/webhooks/{id}/"),
        ("delete", "/api/v1/webhooks/{id}/"),
        ("get", "/api/v1/webhooks/{id}/deliveries/"),
        ("get", "/api/v1/sequences/{id}/"),
        ("post", "/api/v1/sequences/{id}/enroll/"),
        ("post", "/api/v1/sequences/{id}/unenroll/"),
        ("get", "/api/v1/custom-fields/{id}/"),
        ("get", "/api/v1/workflows/{id}/"),
        ("get", "/api/v1/users/{id}/"),
    ],
)
@pytest.mark.parametrize("bad_id", ["abc", "1.5", HUGE, "-1"])
def test_malformed_or_huge_ids_are_404(api_as, admin_user, method, path, bad_id):
    response = getattr(api_as(admin_user), method)(path.format(id=bad_id), {}, format="json")
    assert_error_shape(response, 404, "not_found")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/leads/{id}/",
        "/api/v1/deals/{id}/",
        "/api/v1/people/{id}/",
        "/api/v1/organizations/{id}/",
        "/api/v1/activities/{id}/",
    ],
)
@pytest.mark.parametrize("bad_id", ["abc", HUGE])
def test_malformed_record_ids_are_404(api_as, admin_user, path, bad_id):
    assert_error_shape(api_as(admin_user).get(path.format(id=bad_id)), 404, "not_found")


# --- integer filters --------------------------------------------------------------------------
INTEGER_FILTERS = [
    ("/api/v1/leads/", "owner"),
    ("/api/v1/leads/", "assigned_to"),
    ("/api/v1/leads/", "step"),
    ("/api/v1/leads/", "score_min"),
    ("/api/v1/deals/", "owner"),
    ("/api/v1/deals/", "assigned_to"),
    ("/api/v1/deals/", "step"),
    ("/api/v1/deals/", "workflow"),
    ("/api/v1/people/", "owner"),
    ("/api/v1/organizations/", "owner"),
    ("/api/v1/activities/", "assigned_to"),
]


@pytest.fixture
def some_records(rep1):
    """One record of each kind, so that a filter that is not applied shows rows."""
    lead = LeadFactory(owner=rep1)
    make_deal(rep1)
    PersonFactory(owner=rep1)
    OrganizationFactory(owner=rep1)
    ActivityFactory(assigned_to=rep1, lead=lead, type=Activity.Type.TASK)


@pytest.mark.parametrize(("path", "param"), INTEGER_FILTERS)
@pytest.mark.parametrize("value", [HUGE, BIG, f"-{HUGE}"])
def test_integer_filter_beyond_64_bits_is_400_naming_the_filter(
    api_as, manager, some_records, path, param, value
):
    error = assert_error_shape(api_as(manager).get(path, {param: value}), 400, "validation_error")
    assert param in error["details"]


@pytest.mark.parametrize(("path", "param"), INTEGER_FILTERS)
def test_largest_64_bit_integer_filter_matches_nothing(api_as, manager, some_records, path, param):
    response = api_as(manager).get(path, {param: str(2**63 - 1)})
    assert response.status_code == 200, response.content
    assert response.json()["count"] == 0


def test_deal_step_list_with_a_huge_step_is_400(api_as, manager, some_records):
    response = api_as(manager).get("/api/v1/deals/", {"step": f"1,{HUGE}"})
    assert "step" in assert_error_shape(response, 400, "validation_error")["details"]


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/api/v1/leads/", "is_qualified"),
        ("/api/v1/leads/", "is_converted"),
        ("/api/v1/activities/", "is_done"),
        ("/api/v1/activities/", "is_system_activity"),
    ],
)
@pytest.mark.parametrize("value", ["maybe", "2", "yes please"])
def test_invalid_boolean_filter_is_400(api_as, manager, some_records, path, param, value):
    error = assert_error_shape(api_as(manager).get(path, {param: value}), 400, "validation_error")
    assert param in error["details"]


@pytest.mark.parametrize("value", ["true", "false", "True", "1", "0"])
def test_valid_boolean_filters_still_filter(api_as, manager, rep1, value):
    LeadFactory(owner=rep1, is_qualified=True)
    LeadFactory(owner=rep1, is_qualified=False)
    response = api_as(manager).get("/api/v1/leads/", {"is_qualified": value})
    assert response.status_code == 200, response.content
    expected = value.lower() in ("true", "1")
    assert [r["is_qualified"] for r in response.json()["results"]] == [expected]


def test_search_longer_than_the_cap_is_400(api_as, manager):
    response = api_as(manager).get("/api/v1/leads/", {"search": "x" * 1001})
    assert "search" in assert_error_shape(response, 400, "validation_error")["details"]
    assert api_as(manager).get("/api/v1/leads/", {"search": "x" * 200}).status_code == 200


@pytest.fixture
def nickname_field(db):
    return CustomFieldFactory(entity_type="lead", name="nickname", label="Nickname", type="text")


def test_null_character_in_a_custom_field_filter_is_400(api_as, manager, nickname_field):
    response = api_as(manager).get("/api/v1/leads/", {"cf_nickname": "a\x00b"})
    assert "cf_nickname" in assert_error_shape(response, 400, "validation_error")["details"]


def test_null_character_in_a_custom_field_value_is_400(api_as, rep1, nickname_field):
    response = api_as(rep1).post(
        "/api/v1/leads/",
        {"name": "L", "custom_field_values": {"nickname": "a\x00b"}},
        format="json",
    )
    assert_error_shape(response, 400, "validation_error")


# --- pagination ---------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["-1", "0", "abc", "false", "1.5", " "])
def test_invalid_page_size_is_400(api_as, manager, value):
    error = assert_error_shape(
        api_as(manager).get("/api/v1/people/", {"page_size": value}), 400, "validation_error"
    )
    assert "page_size" in error["details"]


@pytest.mark.parametrize("value", ["201", HUGE])
def test_page_size_beyond_the_maximum_gives_the_maximum(api_as, manager, rep1, value):
    PersonFactory.create_batch(3, owner=rep1)
    response = api_as(manager).get("/api/v1/people/", {"page_size": value})
    assert response.status_code == 200, response.content
    assert len(response.json()["results"]) == 3


def test_valid_page_size_pages(api_as, manager, rep1):
    PersonFactory.create_batch(3, owner=rep1)
    data = api_as(manager).get("/api/v1/people/", {"page_size": "2"}).json()
    assert data["count"] == 3 and len(data["results"]) == 2 and data["next"]


@pytest.mark.parametrize("value", ["abc", "0", HUGE])
def test_invalid_page_is_404(api_as, manager, value):
    assert_error_shape(api_as(manager).get("/api/v1/people/", {"page": value}), 404, "not_found")


# --- bodies ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/leads/"),
        ("post", "/api/v1/people/"),
        ("post", "/api/v1/auth/token/"),
        ("post", "/api/v1/custom-fields/"),
    ],
)
@pytest.mark.parametrize("opening", ["[", '{"a":'])
def test_deeply_nested_json_body_is_400(api_as, admin_user, method, path, opening):
    closing = "]" if opening == "[" else "}"
    body = opening * 5000 + "1" + closing * 5000
    response = getattr(api_as(admin_user), method)(path, data=body, content_type="application/json")
    error = assert_error_shape(response, 400, "validation_error")
    assert "deep" in error["message"]


def test_moderately_nested_json_body_still_parses(api_as, rep1):
    nested: dict = {}
    for _ in range(20):
        nested = {"a": nested}
    response = api_as(rep1).post(
        "/api/v1/people/",
        {"first_name": "Ada", "last_name": "Lovelace", "ignored": nested},
        format="json",
    )
    assert response.status_code == 201, response.content


def test_malformed_json_body_is_400(api_as, rep1):
    response = api_as(rep1).post(
        "/api/v1/people/", data="{not json", content_type="application/json"
    )
    assert_error_shape(response, 400, "validation_error")


# --- text lengths ---------------------------------------------------------------------------------
def _lead_for(rep):
    return LeadFactory(owner=rep)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/people/", {"first_name": "A" * 101, "last_name": "B"}),
        ("/api/v1/organizations/", {"name": "O" * 256}),
        ("/api/v1/leads/", {"name": "L" * 256, "source": "web"}),
        ("/api/v1/deals/", {"name": "D" * 256, "amount": "1"}),
    ],
)
def test_text_longer_than_its_column_is_400_naming_the_field(api_as, rep1, path, body):
    response = api_as(rep1).post(path, body, format="json")
    error = assert_error_shape(response, 400, "validation_error")
    assert set(body) & set(error["details"])


@pytest.mark.parametrize(
    ("action", "body", "field"),
    [
        ("disqualify", {"reason": "r" * 20_001}, "reason"),
        ("qualify", {"notes": "n" * 20_001}, "notes"),
        ("transition", {"to_step": 1, "reason": "r" * 20_001}, "reason"),
    ],
)
def test_lead_action_text_is_capped(api_as, rep1, action, body, field):
    lead = _lead_for(rep1)
    response = api_as(rep1).post(f"/api/v1/leads/{lead.pk}/{action}/", body, format="json")
    assert field in assert_error_shape(response, 400, "validation_error")["details"]


@pytest.mark.parametrize(
    ("action", "body", "field"),
    [
        ("lost", {"reason": "r" * 301}, "reason"),
        ("transition", {"to_step": 1, "reason": "r" * 20_001}, "reason"),
    ],
)
def test_deal_action_text_is_capped(api_as, rep1, action, body, field):
    deal = make_deal(rep1)
    response = api_as(rep1).post(f"/api/v1/deals/{deal.pk}/{action}/", body, format="json")
    assert field in assert_error_shape(response, 400, "validation_error")["details"]


def test_record_text_columns_are_capped(api_as, rep1):
    response = api_as(rep1).post(
        "/api/v1/leads/", {"name": "L", "description": "d" * 20_001}, format="json"
    )
    assert "description" in assert_error_shape(response, 400, "validation_error")["details"]


def test_integers_beyond_their_column_are_400(api_as, rep1):
    response = api_as(rep1).post(
        "/api/v1/activities/",
        {"type": "call", "subject": "Call", "duration_minutes": 2**31},
        format="json",
    )
    assert "duration_minutes" in assert_error_shape(response, 400)["details"]
    deal = make_deal(rep1)
    response = api_as(rep1).post(
        f"/api/v1/deals/{deal.pk}/transition/", {"to_step": int(HUGE)}, format="json"
    )
    assert "to_step" in assert_error_shape(response, response.status_code)["details"]
    assert response.status_code in (400, 404)


def test_activity_notes_are_capped(api_as, rep1):
    response = api_as(rep1).post(
        "/api/v1/activities/",
        {"type": "note", "subject": "Call", "notes": "n" * 20_001},
        format="json",
    )
    assert "notes" in assert_error_shape(response, 400, "validation_error")["details"]


def test_token_credentials_are_capped_before_any_password_is_hashed(api, rep1):
    body = {"username": "rep1", "password": "p" * 4097}
    response = api.post("/api/v1/auth/token/", body, format="json")
    assert "password" in assert_error_shape(response, 400, "validation_error")["details"]
    body = {"username": "u" * 151, "password": "x"}
    response = api.post("/api/v1/auth/token/", body, format="json")
    assert "username" in assert_error_shape(response, 400, "validation_error")["details"]


def test_list_bodies_are_capped(api_as, admin_user):
    from crm.events import EVENT_NAMES

    client = api_as(admin_user)
    events = sorted(EVENT_NAMES) * 2
    response = client.post(
        "/api/v1/webhooks/", {"url": "https://example.com/hook", "events": events}, format="json"
    )
    assert "events" in assert_error_shape(response, 400, "validation_error")["details"]
    names = [f"field_{i}" for i in range(501)]
    response = client.post(
        "/api/v1/custom-fields/reorder/", {"entity_type": "lead", "names": names}, format="json"
    )
    assert "names" in assert_error_shape(response, 400, "validation_error")["details"]


# --- unknown paths --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/leads/{lead}/no-such-action/",
        "/api/v1/leads/{lead}/exports/",
        "/api/v1/nothing-here/",
        "/api/v2/leads/",
        "/api/",
        "/api/v1/leads/{lead}/no-such-action",
    ],
)
@pytest.mark.parametrize("debug", [False, True])
def test_unknown_api_paths_are_json_404(api_as, rep1, settings, path, debug):
    settings.DEBUG = debug
    lead = _lead_for(rep1)
    for method in ("get", "post"):
        response = getattr(api_as(rep1), method)(path.format(lead=lead.pk))
        assert response["Content-Type"].startswith("application/json"), response.content[:200]
        assert_error_shape(response, 404, "not_found")


def test_unknown_api_path_is_json_404_for_anonymous_too():
    response = APIClient().get("/api/v1/leads/00000000-0000-0000-0000-000000000000/unknown/")
    assert_error_shape(response, 404, "not_found")


# --- /api/v1/users/ ------------------------------------------------------------------------------
@pytest.fixture
def team(admin_user, manager, rep1, rep2, analyst, viewer):
    UserFactory(username="nobody")  # active, without a role
    UserFactory(username="gone", role="Sales Rep", is_active=False)
    return {
        "admin": admin_user,
        "manager": manager,
        "rep1": rep1,
        "rep2": rep2,
        "analyst": analyst,
        "viewer": viewer,
    }


def _usernames(data) -> set[str]:
    return {u["username"] for u in data["results"]}


@pytest.mark.parametrize("who", ["admin", "manager"])
def test_managers_and_admins_list_every_active_user_with_roles(api_as, team, who):
    response = api_as(team[who]).get("/api/v1/users/")
    assert response.status_code == 200
    data = response.json()
    assert set(data) == {"count", "count_exact", "next", "previous", "results"}
    assert _usernames(data) == {"admin", "manager", "rep1", "rep2", "analyst", "viewer", "nobody"}
    roles = {u["username"]: u["role"] for u in data["results"]}
    assert roles["viewer"] == "Viewer" and roles["analyst"] == "Analyst"
    assert roles["manager"] == "Manager" and roles["nobody"] == ""


@pytest.mark.parametrize("who", ["rep1", "analyst"])
def test_reps_and_analysts_list_who_they_may_pick_without_roles(api_as, team, who):
    data = api_as(team[who]).get("/api/v1/users/").json()
    names = _usernames(data)
    assert {"rep1", "rep2", "manager", who} <= names
    assert "nobody" not in names and "gone" not in names
    for user in data["results"]:
        if user["username"] == who:
            assert user["role"] == team[who].role
        else:
            assert user["role"] is None, user


def test_viewer_lists_only_itself(api_as, team):
    data = api_as(team["viewer"]).get("/api/v1/users/").json()
    assert data["count"] == 1
    assert data["results"] == [
        {
            "id": team["viewer"].pk,
            "username": "viewer",
            "name": team["viewer"].display_name,
            "role": "Viewer",
        }
    ]


def test_viewer_cannot_read_another_user(api_as, team):
    response = api_as(team["viewer"]).get(f"/api/v1/users/{team['manager'].pk}/")
    assert_error_shape(response, 404, "not_found")
    assert api_as(team["viewer"]).get(f"/api/v1/users/{team['viewer'].pk}/").status_code == 200


def test_users_list_is_paginated(api_as, team):
    data = api_as(team["manager"]).get("/api/v1/users/", {"page_size": "2"}).json()
    assert data["count"] == 7 and len(data["results"]) == 2 and data["next"]


def test_users_list_query_count_is_constant(api_as, team, django_assert_max_num_queries):
    client = api_as(team["manager"])
    with django_assert_max_num_queries(6):
        client.get("/api/v1/users/")
    UserFactory.create_batch(10, role="Sales Rep")
    with django_assert_max_num_queries(6):
        assert client.get("/api/v1/users/").json()["count"] == 17


def test_a_text_is_measured_as_sent_before_whitespace_is_trimmed(api_as, rep1):
    from aiagent import services as ai_services

    conversation = api_as(rep1).post("/api/v1/ai/conversations/", {}, format="json").json()
    text = "  " + "x" * ai_services.MAX_MESSAGE_CHARS
    response = api_as(rep1).post(
        f"/api/v1/ai/conversations/{conversation['id']}/messages/", {"content": text}, format="json"
    )
    assert "content" in assert_error_shape(response, 400, "validation_error")["details"]


def test_converting_a_lead_without_any_contact_is_a_conflict_not_bad_input(api_as, rep1):
    lead = LeadFactory(owner=rep1, contact_name="", contact_email="")
    response = api_as(rep1).post(f"/api/v1/leads/{lead.pk}/convert/", {}, format="json")
    assert "person" in assert_error_shape(response, 409, "no_contact")["details"]
