"""/api/v1/custom-fields/: CRUD as a manager, refusals in the SPEC §7 error shape."""

import pytest
from rest_framework import serializers

from customfields.api import CustomFieldValuesField
from customfields.models import CustomFieldDefinition

URL = "/api/v1/custom-fields/"


def detail_url(field) -> str:
    return f"{URL}{field.pk}/"


def assert_error_shape(body: dict, code: str) -> dict:
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details", "trace_id"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]["details"]


BUDGET = {
    "entity_type": "person",
    "name": "budget_range",
    "label": "Budget range",
    "type": "dropdown",
    "options": ["small", "medium", "large"],
}


def test_manager_creates_reads_updates_and_deactivates(api_as, manager):
    client = api_as(manager)

    response = client.post(URL, BUDGET, format="json")
    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["name"] == "budget_range"
    assert created["options"] == ["small", "medium", "large"]
    assert created["is_active"] is True
    field_url = f"{URL}{created['id']}/"

    assert client.get(field_url).json()["label"] == "Budget range"

    response = client.patch(field_url, {"label": "Budget", "show_in_table": True}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["label"] == "Budget"
    assert response.json()["show_in_table"] is True

    response = client.put(field_url, {**BUDGET, "label": "Budget band"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["label"] == "Budget band"

    response = client.delete(field_url)
    assert response.status_code == 405
    assert_error_shape(response.json(), "method_not_allowed")
    assert "deactivate" in response.json()["error"]["message"]
    assert CustomFieldDefinition.objects.get(pk=created["id"]).is_active

    response = client.post(f"{field_url}deactivate/")
    assert response.json()["is_active"] is False

    response = client.post(f"{field_url}activate/")
    assert response.status_code == 200
    assert response.json()["is_active"] is True
    response = client.post(f"{field_url}deactivate/")
    assert response.json()["is_active"] is False


def test_list_filters_and_orders(api_as, manager, rep1, make_field):
    make_field(name="b_field", entity_type="person", display_order=20)
    make_field(name="a_field", entity_type="person", display_order=10)
    make_field(name="c_field", entity_type="lead", display_order=5)
    make_field(name="d_field", entity_type="person", display_order=30, is_active=False)

    body = api_as(manager).get(URL, {"entity_type": "person"}).json()
    assert body["count"] == 3
    assert [f["name"] for f in body["results"]] == ["a_field", "b_field", "d_field"]

    body = api_as(manager).get(URL, {"entity_type": "person", "is_active": "false"}).json()
    assert [f["name"] for f in body["results"]] == ["d_field"]

    body = api_as(manager).get(URL, {"ordering": "-display_order"}).json()
    assert [f["name"] for f in body["results"]][:2] == ["d_field", "b_field"]

    # Reps read definitions (forms need them) but not the inactive ones.
    body = api_as(rep1).get(URL, {"entity_type": "person"}).json()
    assert [f["name"] for f in body["results"]] == ["a_field", "b_field"]


def test_bad_list_filter_is_a_400(api_as, manager):
    response = api_as(manager).get(URL, {"entity_type": "ticket"})
    assert response.status_code == 400
    assert "entity_type" in assert_error_shape(response.json(), "validation_error")


def test_rep_may_read_but_not_write(api_as, rep1, make_field):
    field = make_field(name="seats", type="number")
    client = api_as(rep1)
    assert client.get(detail_url(field)).status_code == 200

    for response in (
        client.post(URL, BUDGET, format="json"),
        client.patch(detail_url(field), {"label": "x"}, format="json"),
        client.delete(detail_url(field)),
        client.post(f"{detail_url(field)}deactivate/"),
        client.post(f"{URL}reorder/", {"entity_type": "person", "names": []}, format="json"),
    ):
        assert response.status_code == 403
        assert_error_shape(response.json(), "permission_denied")
    field.refresh_from_db()
    assert field.label != "x"
    assert field.is_active


@pytest.mark.parametrize("user_fixture", ["analyst", "viewer"])
def test_read_only_roles_may_not_create(request, api_as, user_fixture):
    client = api_as(request.getfixturevalue(user_fixture))
    assert client.post(URL, BUDGET, format="json").status_code == 403


def test_rep_may_write_when_the_setting_is_on(api_as, rep1, settings):
    settings.CUSTOM_FIELDS_EDITABLE_BY_REPS = True
    assert api_as(rep1).post(URL, BUDGET, format="json").status_code == 201


def test_anonymous_is_refused(api):
    response = api.get(URL)
    assert response.status_code in (401, 403)
    assert_error_shape(response.json(), response.json()["error"]["code"])


def test_rep_cannot_see_an_inactive_field(api_as, rep1, make_field):
    field = make_field(name="seats", type="number", is_active=False)
    response = api_as(rep1).get(detail_url(field))
    assert response.status_code == 404
    assert_error_shape(response.json(), "not_found")


def test_malformed_id_is_a_404(api_as, manager):
    response = api_as(manager).get(f"{URL}not-a-uuid/")
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"name": "Budget Range"}, "name"),
        ({"name": "budget_min"}, "name"),
        ({"options": []}, "options"),
        ({"type": "text"}, "options"),
        ({"type": "colour"}, "type"),
        ({"entity_type": "ticket"}, "entity_type"),
        ({"label": ""}, "label"),
        ({"options": "small,large"}, "options"),
    ],
)
def test_bad_definitions_are_400_naming_the_field(api_as, manager, override, field):
    response = api_as(manager).post(URL, {**BUDGET, **override}, format="json")
    assert response.status_code == 400
    details = assert_error_shape(response.json(), "validation_error")
    assert field in details


def test_duplicate_name_is_409_on_name(api_as, manager):
    client = api_as(manager)
    assert client.post(URL, BUDGET, format="json").status_code == 201
    response = client.post(URL, BUDGET, format="json")
    assert response.status_code == 409
    assert "already exists" in assert_error_shape(response.json(), "already_exists")["name"][0]


def test_changing_the_name_or_type_is_409(api_as, manager, make_field):
    field = make_field(name="seats", type="number")
    for change, key in (({"name": "places"}, "name"), ({"type": "decimal"}, "type")):
        response = api_as(manager).patch(detail_url(field), change, format="json")
        assert response.status_code == 409
        details = assert_error_shape(response.json(), "immutable")
        assert "cannot be changed" in details[key][0]


def test_removing_an_option_in_use_is_409(api_as, manager, make_field, make_person):
    field = make_field(name="size", type="dropdown", options=["S", "M"])
    make_person({"size": "M"})
    response = api_as(manager).patch(detail_url(field), {"options": ["S"]}, format="json")
    assert response.status_code == 409
    details = assert_error_shape(response.json(), "option_in_use")
    assert details["options"] == [
        "Option 'M' is still used by 1 person; change those records before removing it."
    ]


def test_reorder(api_as, manager, make_field):
    make_field(name="a_field", display_order=10)
    make_field(name="b_field", display_order=20)
    response = api_as(manager).post(
        f"{URL}reorder/", {"entity_type": "person", "names": ["b_field"]}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert [f["name"] for f in response.json()] == ["b_field", "a_field"]


def test_list_query_count_is_constant(api_as, manager, make_field, django_assert_max_num_queries):
    client = api_as(manager)
    for i in range(3):
        make_field(name=f"small_{i}")
    with django_assert_max_num_queries(6):
        assert client.get(URL).status_code == 200
    for i in range(30):
        make_field(name=f"big_{i}")
    with django_assert_max_num_queries(6):
        assert client.get(URL).json()["count"] == 33


def test_schema_documents_the_endpoint(api_as, admin_user):
    response = api_as(admin_user).get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    assert "/api/v1/custom-fields/" in response.json()["paths"]


# --- helpers for the record APIs ------------------------------------------------------------


class PersonValuesSerializer(serializers.Serializer):
    custom_field_values = CustomFieldValuesField(entity_type="person")


def test_values_field_hides_inactive_values_with_one_query(
    make_field, make_person, django_assert_num_queries
):
    make_field(name="seats", type="number")
    make_field(name="legacy", type="text", is_active=False)
    people = [make_person({"seats": i, "legacy": "x"}) for i in range(5)]
    with django_assert_num_queries(1):
        data = PersonValuesSerializer(people, many=True).data
    assert [row["custom_field_values"] for row in data] == [{"seats": i} for i in range(5)]


def test_values_field_needs_an_object():
    serializer = PersonValuesSerializer(data={"custom_field_values": ["seats"]})
    assert not serializer.is_valid()
    assert "custom_field_values" in serializer.errors
    serializer = PersonValuesSerializer(data={"custom_field_values": {"seats": "3"}})
    assert serializer.is_valid()
    assert serializer.validated_data == {"custom_field_values": {"seats": "3"}}


def test_custom_field_schema_documents_cf_parameters_on_list(make_field):
    from django.urls import path
    from drf_spectacular.generators import SchemaGenerator
    from rest_framework import generics

    from crm.models import Person
    from customfields.api import custom_field_schema

    make_field(name="seats", label="Seats", type="number")
    make_field(name="size", type="dropdown", options=["S", "M"])
    make_field(name="legacy", type="text", is_active=False)

    class PersonValuesView(generics.ListAPIView):
        queryset = Person.objects.all()
        serializer_class = PersonValuesSerializer
        schema = custom_field_schema("person")

    generator = SchemaGenerator(patterns=[path("people/", PersonValuesView.as_view())])
    operation = generator.get_schema(request=None, public=True)["paths"]["/people/"]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert {"cf_seats", "cf_seats_min", "cf_seats_max", "cf_size"} <= set(parameters)
    assert "cf_legacy" not in parameters
    # (Each also takes an empty value: no filter.)
    assert sorted(parameters["cf_size"]["schema"]["anyOf"][0]["enum"]) == ["M", "S"]
    assert parameters["cf_seats_min"]["schema"]["anyOf"][0]["type"] == "integer"
    assert "cf_<name>" in operation["description"]
