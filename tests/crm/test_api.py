import pytest

from crm.models import ApiToken
from crm.tokens import key_hash
from tests.factories import PASSWORD, OrganizationFactory, PersonFactory


def assert_error_shape(response, status, code=None):
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details", "trace_id"}
    assert error["message"] and error["trace_id"]
    if code:
        assert error["code"] == code
    return error


def test_token_login_and_me(api, rep1):
    response = api.post(
        "/api/v1/auth/token/", {"username": "rep1", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    token = response.json()["token"]
    assert ApiToken.objects.get(user=rep1).key_hash == key_hash(token)  # only its hash is kept
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    me = api.get("/api/v1/auth/me/").json()
    assert me["username"] == "rep1" and me["role"] == "Sales Rep"


def test_bad_credentials_are_401_with_error_shape(api, rep1):
    response = api.post("/api/v1/auth/token/", {"username": "rep1", "password": "nope"})
    assert_error_shape(response, 401, "invalid_credentials")
    assert response["WWW-Authenticate"] == "Token"


def test_anonymous_is_401_with_error_shape(api):
    assert_error_shape(api.get("/api/v1/people/"), 401, "not_authenticated")


def test_unknown_api_path_is_404_with_error_shape(api_as, rep1):
    assert_error_shape(api_as(rep1).get("/api/v1/nothing-here/"), 404, "not_found")


def test_users_list_for_pickers(api_as, rep1, rep2, manager):
    data = api_as(rep1).get("/api/v1/users/").json()["results"]  # paginated (SPEC §7)
    assert {u["username"] for u in data} >= {"rep1", "rep2", "manager"}
    assert set(data[0]) == {"id", "username", "name", "role"}


def test_rep_sees_only_own_people_in_list(api_as, rep1, rep2):
    mine = PersonFactory(owner=rep1)
    PersonFactory(owner=rep2)
    data = api_as(rep1).get("/api/v1/people/").json()
    assert data["count"] == 1
    assert [p["id"] for p in data["results"]] == [str(mine.pk)]
    assert set(data) == {"count", "count_exact", "next", "previous", "results"}


def test_other_reps_person_is_404_and_manager_sees_it(api_as, rep1, rep2, manager):
    theirs = PersonFactory(owner=rep2)
    assert_error_shape(api_as(rep1).get(f"/api/v1/people/{theirs.pk}/"), 404, "not_found")
    assert api_as(manager).get(f"/api/v1/people/{theirs.pk}/").status_code == 200


def test_analyst_cannot_change_visible_person_403(api_as, analyst, rep2):
    person = PersonFactory(owner=rep2)
    response = api_as(analyst).patch(f"/api/v1/people/{person.pk}/", {"job_title": "X"})
    assert_error_shape(response, 403, "permission_denied")


def test_create_person_with_bad_input_is_400_with_field_details(api_as, rep1):
    response = api_as(rep1).post("/api/v1/people/", {"email": "not-an-email"})
    error = assert_error_shape(response, 400, "validation_error")
    assert set(error["details"]) == {"first_name", "email"}


def test_create_update_delete_person(api_as, rep1):
    org = OrganizationFactory(owner=rep1)
    client = api_as(rep1)
    created = client.post(
        "/api/v1/people/",
        {
            "first_name": "Ann",
            "last_name": "Lee",
            "email": "ann@x.com",
            "organization": str(org.pk),
        },
    )
    assert created.status_code == 201, created.content
    pid = created.json()["id"]
    assert created.json()["organization_name"] == org.name
    patched = client.patch(f"/api/v1/people/{pid}/", {"job_title": "CTO"})
    assert patched.json()["job_title"] == "CTO"
    assert client.delete(f"/api/v1/people/{pid}/").status_code == 204
    assert client.get(f"/api/v1/people/{pid}/").status_code == 404


def test_malformed_id_is_404(api_as, rep1):
    assert_error_shape(api_as(rep1).get("/api/v1/people/not-a-uuid/"), 404)


def test_search_filter_and_ordering(api_as, manager, rep1):
    PersonFactory(owner=rep1, first_name="Zed", last_name="Alpha", email="zed@a.com")
    PersonFactory(owner=rep1, first_name="Amy", last_name="Beta", email="amy@b.com")
    client = api_as(manager)
    assert [
        p["first_name"] for p in client.get("/api/v1/people/?search=zed").json()["results"]
    ] == ["Zed"]
    ordered = client.get("/api/v1/people/?ordering=-last_name").json()["results"]
    assert [p["last_name"] for p in ordered] == ["Beta", "Alpha"]
    assert client.get(f"/api/v1/people/?owner={rep1.pk}").json()["count"] == 2


def test_page_size_is_capped_at_200(api_as, manager):
    response = api_as(manager).get("/api/v1/people/?page_size=500")
    assert response.status_code == 200


def test_throttled_responses_use_error_shape(api, rep1, monkeypatch):
    from rest_framework.throttling import SimpleRateThrottle

    # The throttle classes read their rates from a class attribute bound when DRF was imported;
    # monkeypatch puts the real rates back, so no later test meets a 2/minute login throttle.
    rates = {**SimpleRateThrottle.THROTTLE_RATES, "login": "2/minute"}
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)
    for _ in range(2):
        api.post("/api/v1/auth/token/", {"username": "rep1", "password": "x"})
    response = api.post("/api/v1/auth/token/", {"username": "rep1", "password": "x"})
    assert_error_shape(response, 429, "throttled")


@pytest.mark.parametrize("rows", [3, 30])
def test_people_list_query_count_is_constant(api_as, rep1, rows, django_assert_max_num_queries):
    org = OrganizationFactory(owner=rep1)
    for _ in range(rows):
        PersonFactory(owner=rep1, organization=org)
    client = api_as(rep1)
    with django_assert_max_num_queries(6):
        assert client.get("/api/v1/people/").json()["count"] == rows


@pytest.mark.parametrize("rows", [3, 30])
def test_organization_list_query_count_is_constant(
    api_as, manager, rows, django_assert_max_num_queries
):
    for _ in range(rows):
        OrganizationFactory()
    client = api_as(manager)
    with django_assert_max_num_queries(6):
        assert client.get("/api/v1/organizations/").json()["count"] == rows


def test_schema_is_served_and_valid(api_as, rep1):
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")
    assert api_as(rep1).get("/api/schema/").status_code == 200
