"""Definition invariants, the registry, role permissions and the read selectors."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from customfields import registry, selectors
from customfields.models import CustomFieldDefinition, validate_field_name


@pytest.mark.parametrize("name", ["budget", "budget_range", "a1", "x" * 50, "q4_target_2025"])
def test_good_names(name):
    validate_field_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "Budget",
        "_budget",
        "1st",
        "budget range",
        "budget-range",
        "a__b",
        "x" * 51,
        "seats_min",
        "seats_max",
        "contains",
        "has_key",
        "isnull",
        "pk",
        "page_size",
        "ordering",
    ],
)
def test_bad_names(name):
    with pytest.raises(ValidationError):
        validate_field_name(name)


def test_name_is_unique_per_entity_type_in_the_database(make_field):
    make_field(name="seats", entity_type="person")
    make_field(name="seats", entity_type="lead")
    with pytest.raises(IntegrityError):
        make_field(name="seats", entity_type="person")


def test_database_refuses_unknown_types(make_field):
    with pytest.raises(IntegrityError):
        make_field(name="seats", type="colour")


def test_str_and_param_name(make_field):
    field = make_field(name="seats", label="Seats", entity_type="organization")
    assert str(field) == "Organization: Seats"
    assert field.param_name == "cf_seats"


def test_every_model_field_has_admin_help_text():
    own = [
        f
        for f in CustomFieldDefinition._meta.get_fields()
        if f.concrete and f.name not in {"id", "created_at", "updated_at", "created_by"}
    ]
    assert own
    assert all(f.help_text for f in own), [f.name for f in own if not f.help_text]


def test_manager_holds_the_custom_field_permissions(manager, rep1, analyst):
    assert manager.has_perm("customfields.add_customfielddefinition")
    assert manager.has_perm("customfields.change_customfielddefinition")
    assert manager.has_perm("customfields.view_customfielddefinition")
    assert not rep1.has_perm("customfields.add_customfielddefinition")
    assert not analyst.has_perm("customfields.change_customfielddefinition")


# --- registry -------------------------------------------------------------------------------


def test_people_and_organizations_are_registered():
    from crm.models import Organization, Person

    assert registry.get_entity("person").model is Person
    assert registry.get_entity("organization").model is Organization
    assert registry.entity_for_model(Person).entity_type == "person"


def test_register_refuses_unknown_entity_types_and_fields(monkeypatch):
    from django.core.exceptions import FieldDoesNotExist

    from crm.models import Person

    monkeypatch.setattr(registry, "_entities", dict(registry._entities))
    with pytest.raises(ValueError, match="Unknown entity type"):
        registry.register_entity("ticket", Person)
    with pytest.raises(FieldDoesNotExist):
        registry.register_entity("person", Person, values_field="nope")


def test_registered_queryset_hides_soft_deleted_rows(make_person):
    from django.utils import timezone

    make_person({})
    make_person({}, deleted_at=timezone.now())
    assert registry.get_entity("person").queryset().count() == 1


# --- selectors ------------------------------------------------------------------------------


@pytest.fixture
def person_fields(make_field):
    return [
        make_field(name="third", display_order=30, show_in_table=True),
        make_field(name="first", display_order=10),
        make_field(name="second", display_order=20, show_in_table=True),
        make_field(name="hidden", display_order=5, is_active=False, show_in_table=True),
        make_field(name="deal_field", entity_type="deal", display_order=1),
    ]


def test_active_fields_in_display_order_with_one_query(person_fields, django_assert_num_queries):
    with django_assert_num_queries(1):
        fields = selectors.active_fields("person")
    assert [f.name for f in fields] == ["first", "second", "third"]


def test_table_fields(person_fields):
    assert [f.name for f in selectors.table_fields("person")] == ["second", "third"]


def test_selectors_reuse_given_definitions(person_fields, django_assert_num_queries):
    definitions = selectors.definitions_for("person")
    with django_assert_num_queries(0):
        assert len(selectors.active_fields("person", definitions=definitions)) == 3
        assert len(selectors.table_fields("person", definitions=definitions)) == 2
        assert selectors.active_fields("deal", definitions=definitions) == []


def test_active_values_hide_inactive_fields(person_fields):
    values = {"hidden": 1, "second": "b", "first": "a", "orphan": 2}
    assert selectors.active_values("person", values) == {"first": "a", "second": "b"}
    assert list(selectors.active_values("person", values)) == ["first", "second"]


def test_field_list_shows_inactive_fields_to_managers_only(person_fields, manager, rep1, viewer):
    assert "hidden" in {f.name for f in selectors.field_list(user=manager)}
    assert "hidden" not in {f.name for f in selectors.field_list(user=rep1)}
    assert {f.name for f in selectors.field_list(user=viewer, entity_type="deal")} == {"deal_field"}


def test_field_list_is_empty_for_anonymous(person_fields):
    from django.contrib.auth.models import AnonymousUser

    assert not selectors.field_list(user=AnonymousUser()).exists()


def test_field_get(person_fields, rep1, manager):
    from crm.errors import NotFound

    hidden = person_fields[3]
    assert selectors.field_get(user=manager, field_id=hidden.pk) == hidden
    with pytest.raises(NotFound):
        selectors.field_get(user=rep1, field_id=hidden.pk)
    with pytest.raises(NotFound):
        selectors.field_get(user=manager, field_id="not-a-uuid")


def test_definitions_of_several_types_are_read_in_one_query(make_field, django_assert_num_queries):
    make_field(entity_type="lead", name="region")
    make_field(entity_type="deal", name="region")
    make_field(entity_type="person", name="region")
    with django_assert_num_queries(1):
        definitions = selectors.definitions_for("lead", "deal")
    assert sorted(d.entity_type for d in definitions) == ["deal", "lead"]
    assert [d.entity_type for d in selectors.active_fields("deal", definitions=definitions)] == [
        "deal"
    ]


@pytest.mark.parametrize(
    ("kind", "stored", "shown"),
    [
        ("number", 12345, "12,345"),
        ("number", 0, "0"),
        ("decimal", "1250.50", "1,250.50"),
        ("boolean", False, "No"),
        ("multi_select", ["small", "large"], "small, large"),
        ("text", "", None),
        ("url", "https://acme.example", "https://acme.example"),
    ],
)
def test_display_rows_read_values_as_people_do(make_field, kind, stored, shown):
    make_field(entity_type="deal", name="f", type=kind)
    (row,) = selectors.display_rows("deal", {"f": stored})
    assert row["value"] == shown
    assert row["is_url"] is (kind == "url")
