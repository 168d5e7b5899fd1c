"""Custom fields on people and organizations: services validate through the one validation
service, modals render and refuse inline, detail pages and tables show them, the API accepts
and filters them."""

import json

import pytest

from crm import services
from crm.errors import ValidationFailed
from crm.models import Organization, Person
from tests.customfields.factories import CustomFieldFactory
from tests.factories import OrganizationFactory, PersonFactory

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def web(client):
    def login(user):
        client.force_login(user)
        return client

    return login


@pytest.fixture
def person_fields(db):
    return [
        CustomFieldFactory(
            entity_type="person",
            name="language",
            label="Preferred language",
            type="dropdown",
            options=["English", "French", "German"],
            show_in_table=True,
        ),
        CustomFieldFactory(entity_type="person", name="birthday", label="Birthday", type="date"),
        CustomFieldFactory(
            entity_type="person",
            name="newsletter",
            label="Newsletter",
            type="boolean",
            show_in_table=True,
        ),
        CustomFieldFactory(
            entity_type="person", name="old_code", label="Old code", is_active=False
        ),
    ]


@pytest.fixture
def org_fields(db):
    return [
        CustomFieldFactory(
            entity_type="organization",
            name="tier",
            label="Customer tier",
            type="dropdown",
            options=["Gold", "Silver"],
            is_required=True,
            show_in_table=True,
        ),
        CustomFieldFactory(entity_type="organization", name="revenue", type="decimal"),
    ]


# --- services -------------------------------------------------------------------------------


def test_person_create_stores_normalized_values(rep1, person_fields):
    person = services.person_create(
        by=rep1,
        first_name="Ada",
        custom_field_values={"language": "french", "newsletter": "yes", "birthday": ""},
    )
    person.refresh_from_db()
    assert person.custom_field_values == {"language": "French", "newsletter": True}


def test_person_create_refuses_bad_values_naming_the_field(rep1, person_fields):
    with pytest.raises(ValidationFailed) as info:
        services.person_create(
            by=rep1, first_name="Ada", custom_field_values={"language": "Klingon", "zzz": 1}
        )
    assert set(info.value.details) == {
        "custom_field_values.language",
        "custom_field_values.zzz",
    }
    assert info.value.details["custom_field_values.language"] == [
        "Preferred language: 'Klingon' is not one of: English, French, German"
    ]
    assert not Person.objects.exists()


def test_organization_create_enforces_required_fields(rep1, org_fields):
    with pytest.raises(ValidationFailed) as info:
        services.organization_create(by=rep1, name="Acme")
    assert info.value.details == {
        "custom_field_values.tier": ["Customer tier: this field is required."]
    }
    org = services.organization_create(
        by=rep1, name="Acme", custom_field_values={"tier": "Gold", "revenue": "1250.50"}
    )
    assert org.custom_field_values == {"tier": "Gold", "revenue": "1250.50"}


def test_person_update_is_partial_and_keeps_inactive_values(rep1, person_fields):
    person = PersonFactory(
        owner=rep1, custom_field_values={"language": "English", "old_code": "X1"}
    )
    services.person_update(
        by=rep1, person=person, data={"custom_field_values": {"newsletter": True}}
    )
    person.refresh_from_db()
    assert person.custom_field_values == {
        "language": "English",
        "newsletter": True,
        "old_code": "X1",
    }
    services.person_update(by=rep1, person=person, data={"custom_field_values": {"language": None}})
    person.refresh_from_db()
    assert person.custom_field_values == {"newsletter": True, "old_code": "X1"}


def test_person_update_refuses_writing_an_inactive_field(rep1, person_fields):
    person = PersonFactory(owner=rep1)
    with pytest.raises(ValidationFailed) as info:
        services.person_update(
            by=rep1, person=person, data={"custom_field_values": {"old_code": "Y"}}
        )
    assert "inactive" in info.value.details["custom_field_values.old_code"][0]


def test_update_without_custom_values_leaves_them_alone(rep1, org_fields):
    org = OrganizationFactory(owner=rep1, custom_field_values={"tier": "Gold"})
    services.organization_update(by=rep1, organization=org, data={"industry": "Energy"})
    org.refresh_from_db()
    assert org.custom_field_values == {"tier": "Gold"} and org.industry == "Energy"


def test_unchanged_custom_values_record_no_change(rep1, org_fields):
    org = OrganizationFactory(owner=rep1, custom_field_values={"tier": "Gold"})
    before = org.history.count()
    services.organization_update(
        by=rep1, organization=org, data={"custom_field_values": {"tier": "gold"}}
    )
    assert org.history.count() == before


# --- modals ---------------------------------------------------------------------------------


def test_person_modal_renders_active_fields_with_their_widgets(web, rep1, person_fields):
    html = web(rep1).get("/people/new/", **HTMX).content.decode()
    assert 'name="cf_language"' in html and "<select" in html and "French" in html
    assert 'name="cf_birthday"' in html and 'type="date"' in html
    assert 'name="cf_newsletter"' in html and 'type="checkbox"' in html
    assert "cf_old_code" not in html


def test_person_modal_saves_custom_values(web, rep1, person_fields):
    response = web(rep1).post(
        "/people/new/",
        {"first_name": "Ada", "cf_language": "German", "cf_birthday": "1990-12-10"},
        **HTMX,
    )
    assert response.status_code == 204
    person = Person.objects.get(first_name="Ada")
    assert person.custom_field_values == {
        "language": "German",
        "birthday": "1990-12-10",
        "newsletter": False,
    }


def test_person_modal_shows_bad_values_inline(web, rep1, person_fields):
    response = web(rep1).post(
        "/people/new/", {"first_name": "Ada", "cf_birthday": "10/12/1990"}, **HTMX
    )
    assert response.status_code == 422
    assert "cf_birthday" in response.context["form"].errors
    assert "invalid-feedback" in response.content.decode()


def test_organization_modal_shows_service_refusals_on_their_input(web, rep1, org_fields):
    response = web(rep1).post("/organizations/new/", {"name": "Acme"}, **HTMX)
    assert response.status_code == 422
    form = response.context["form"]
    assert form.errors["cf_tier"]  # required: the form field says so first
    # A refusal only the service knows (an option removed while the modal was open) lands on
    # the input too.
    response = web(rep1).post(
        "/organizations/new/", {"name": "Acme", "cf_tier": "Gold", "cf_revenue": "1e20"}, **HTMX
    )
    assert response.status_code == 422
    errors = response.context["form"].errors
    assert "cf_revenue" in errors and "__all__" not in errors
    assert not Organization.objects.exists()


def test_edit_modal_starts_from_the_stored_values_and_keeps_inactive_ones(web, rep1, person_fields):
    person = PersonFactory(owner=rep1, custom_field_values={"language": "French", "old_code": "X1"})
    client = web(rep1)
    html = client.get(f"/people/{person.pk}/edit/", **HTMX).content.decode()
    assert '<option value="French" selected>' in html
    response = client.post(
        f"/people/{person.pk}/edit/",
        {"first_name": person.first_name, "cf_language": "", "cf_newsletter": "on"},
        **HTMX,
    )
    assert response.status_code == 204
    person.refresh_from_db()
    assert person.custom_field_values == {"newsletter": True, "old_code": "X1"}


# --- detail pages and tables ----------------------------------------------------------------


def test_detail_pages_show_active_custom_fields(web, rep1, person_fields, org_fields):
    person = PersonFactory(
        owner=rep1,
        custom_field_values={
            "language": "French",
            "newsletter": True,
            "old_code": "legacy-code-7731",  # long enough not to occur in a CSRF token
        },
    )
    html = web(rep1).get(f"/people/{person.pk}/").content.decode()
    assert "Preferred language" in html and "French" in html
    assert "Newsletter" in html and "Yes" in html
    assert "Old code" not in html and "legacy-code-7731" not in html
    org = OrganizationFactory(owner=rep1, custom_field_values={"tier": "Silver"})
    html = web(rep1).get(f"/organizations/{org.pk}/").content.decode()
    assert "Customer tier" in html and "Silver" in html


def test_people_table_shows_table_fields_as_columns(web, rep1, person_fields):
    PersonFactory(owner=rep1, custom_field_values={"language": "German"})
    html = web(rep1).get("/people/").content.decode()
    assert "ordering=cf_language" in html and "German" in html
    assert "ordering=cf_birthday" not in html  # not shown in the table


def test_people_table_filters_and_sorts_by_custom_fields(web, rep1, person_fields):
    PersonFactory(owner=rep1, first_name="Anna", custom_field_values={"language": "German"})
    PersonFactory(owner=rep1, first_name="Bert", custom_field_values={"language": "French"})
    PersonFactory(owner=rep1, first_name="Carl")
    client = web(rep1)
    html = client.get("/people/?cf_language=German", **HTMX).content.decode()
    assert "Anna" in html and "Bert" not in html and "Carl" not in html
    page = client.get("/people/").content.decode()
    assert 'name="cf_language"' in page and 'name="cf_birthday_min"' in page
    html = client.get("/people/?ordering=-cf_language", **HTMX).content.decode()
    assert html.index("Anna") < html.index("Bert") < html.index("Carl")


def test_bad_filter_value_says_so_instead_of_failing(web, rep1, person_fields):
    PersonFactory(owner=rep1, first_name="Anna")
    response = web(rep1).get("/people/?cf_language=Klingon")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Some filters are not valid" in html and "Klingon" in html


def test_organization_table_filters_by_custom_field(web, manager, org_fields):
    OrganizationFactory(name="Gold Corp", custom_field_values={"tier": "Gold"})
    OrganizationFactory(name="Silver Ltd", custom_field_values={"tier": "Silver"})
    html = web(manager).get("/organizations/?cf_tier=Gold", **HTMX).content.decode()
    assert "Gold Corp" in html and "Silver Ltd" not in html


def ten_fields(entity_type: str) -> None:
    for n in range(10):
        CustomFieldFactory(
            entity_type=entity_type,
            name=f"field_{n}",
            type="dropdown" if n % 2 else "text",
            show_in_table=True,
        )


@pytest.mark.parametrize("rows", [3, 40])
def test_people_table_query_count_unchanged_with_ten_fields(
    web, rep1, rows, django_assert_max_num_queries
):
    ten_fields("person")
    org = OrganizationFactory(owner=rep1)
    for n in range(rows):
        PersonFactory(
            owner=rep1,
            organization=org,
            custom_field_values={"field_0": f"v{n}", "field_1": "small"},
        )
    client = web(rep1)
    with django_assert_max_num_queries(10):
        assert client.get("/people/?cf_field_1=small&ordering=cf_field_0").status_code == 200
    with django_assert_max_num_queries(10):
        assert client.get("/people/").status_code == 200


@pytest.mark.parametrize("rows", [3, 40])
def test_organization_table_query_count_unchanged_with_ten_fields(
    web, manager, rows, django_assert_max_num_queries
):
    ten_fields("organization")
    for _ in range(rows):
        OrganizationFactory(custom_field_values={"field_1": "large"})
    client = web(manager)
    with django_assert_max_num_queries(10):
        assert client.get("/organizations/?cf_field_1=large").status_code == 200


# --- API ------------------------------------------------------------------------------------


def test_api_creates_a_person_with_custom_values(api_as, rep1, person_fields):
    response = api_as(rep1).post(
        "/api/v1/people/",
        {"first_name": "Ada", "custom_field_values": {"language": "english", "newsletter": 1}},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["custom_field_values"] == {"language": "English", "newsletter": True}


def test_api_bad_value_is_400_naming_the_field(api_as, rep1, person_fields):
    response = api_as(rep1).post(
        "/api/v1/people/",
        {"first_name": "Ada", "custom_field_values": {"birthday": "tomorrow"}},
        format="json",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details", "trace_id"}
    assert error["code"] == "validation_error"
    assert error["details"] == {
        "custom_field_values.birthday": [
            "Birthday: 'tomorrow' is not a valid date (use YYYY-MM-DD)."
        ]
    }


def test_api_refuses_values_that_are_not_an_object(api_as, rep1, person_fields):
    response = api_as(rep1).post(
        "/api/v1/people/", {"first_name": "Ada", "custom_field_values": ["x"]}, format="json"
    )
    assert response.status_code == 400
    assert "custom_field_values" in response.json()["error"]["details"]


def test_api_patch_changes_only_the_given_values(api_as, rep1, person_fields):
    person = PersonFactory(owner=rep1, custom_field_values={"language": "French"})
    response = api_as(rep1).patch(
        f"/api/v1/people/{person.pk}/",
        {"custom_field_values": {"newsletter": False}},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["custom_field_values"] == {"language": "French", "newsletter": False}


def test_api_output_hides_inactive_values(api_as, rep1, person_fields):
    person = PersonFactory(owner=rep1, custom_field_values={"language": "French", "old_code": "X"})
    data = api_as(rep1).get(f"/api/v1/people/{person.pk}/").json()
    assert data["custom_field_values"] == {"language": "French"}


def test_api_organization_required_field_and_update(api_as, rep1, org_fields):
    client = api_as(rep1)
    response = client.post("/api/v1/organizations/", {"name": "Acme"}, format="json")
    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == ["custom_field_values.tier"]
    response = client.post(
        "/api/v1/organizations/",
        {"name": "Acme", "custom_field_values": {"tier": "Gold"}},
        format="json",
    )
    assert response.status_code == 201
    org_id = response.json()["id"]
    response = client.patch(
        f"/api/v1/organizations/{org_id}/",
        {"custom_field_values": {"tier": "Bronze"}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {
        "custom_field_values.tier": ["Customer tier: 'Bronze' is not one of: Gold, Silver"]
    }


def test_api_list_filters_by_custom_fields(api_as, manager, person_fields, org_fields):
    PersonFactory(first_name="Anna", custom_field_values={"birthday": "1990-01-01"})
    PersonFactory(first_name="Bert", custom_field_values={"birthday": "2001-06-30"})
    client = api_as(manager)
    names = [
        p["first_name"]
        for p in client.get("/api/v1/people/?cf_birthday_min=2000-01-01").json()["results"]
    ]
    assert names == ["Bert"]
    OrganizationFactory(name="Gold Corp", custom_field_values={"tier": "Gold"})
    OrganizationFactory(name="Silver Ltd", custom_field_values={"tier": "Silver"})
    results = client.get("/api/v1/organizations/?cf_tier=Silver").json()["results"]
    assert [o["name"] for o in results] == ["Silver Ltd"]


def test_api_bad_filter_is_400_naming_the_parameter(api_as, manager, person_fields):
    response = api_as(manager).get("/api/v1/people/?cf_language=Klingon&cf_nope=1")
    assert response.status_code == 400
    assert set(response.json()["error"]["details"]) == {"cf_language", "cf_nope"}


@pytest.mark.parametrize("rows", [3, 30])
def test_people_api_query_count_unchanged_with_ten_fields(
    api_as, rep1, rows, django_assert_max_num_queries
):
    ten_fields("person")
    for n in range(rows):
        PersonFactory(owner=rep1, custom_field_values={"field_0": f"v{n}"})
    client = api_as(rep1)
    with django_assert_max_num_queries(6):
        response = client.get("/api/v1/people/?cf_field_1=")
    assert response.json()["count"] == rows
    assert all(len(p["custom_field_values"]) == 1 for p in response.json()["results"])


def test_schema_documents_the_person_filters(api_as, rep1, person_fields):
    schema = json.dumps(api_as(rep1).get("/api/schema/?format=json").json())
    assert "cf_language" in schema and "cf_birthday_min" in schema
