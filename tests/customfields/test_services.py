"""Definition services: create, update (immutability, options in use), activate, reorder,
and who may call them."""

import pytest

from crm.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from customfields import services
from customfields.models import CustomFieldDefinition
from customfields.permissions import can_manage_custom_fields


def create(by, **kwargs) -> CustomFieldDefinition:
    params = {"entity_type": "person", "name": "budget_range", "label": "Budget range"}
    params.update(kwargs)
    params.setdefault("type", "dropdown")
    if params["type"] in ("dropdown", "multi_select"):
        params.setdefault("options", ["small", "medium", "large"])
    return services.custom_field_create(by=by, **params)


# --- create ---------------------------------------------------------------------------------


def test_manager_creates_a_field(manager):
    field = create(manager, options=[" small ", "medium", "", "large"], help_text=" Rough ")
    field.refresh_from_db()
    assert field.entity_type == "person"
    assert field.options == ["small", "medium", "large"]
    assert field.help_text == "Rough"
    assert field.is_active
    assert field.created_by == manager


def test_new_fields_go_after_the_existing_ones(manager):
    first = create(manager, name="first", type="text")
    second = create(manager, name="second", type="text")
    other_entity = create(manager, name="third", type="text", entity_type="lead")
    assert first.display_order < second.display_order
    assert other_entity.display_order == first.display_order


def test_admin_creates_a_field(admin_user):
    assert create(admin_user, type="number", name="seats").type == "number"


@pytest.mark.parametrize("user_fixture", ["rep1", "analyst", "viewer"])
def test_other_roles_may_not_create_fields(db, request, user_fixture):
    user = request.getfixturevalue(user_fixture)
    with pytest.raises(PermissionDenied):
        create(user)
    assert not CustomFieldDefinition.objects.exists()


def test_reps_may_manage_fields_when_the_setting_is_on(settings, rep1, analyst, make_field):
    settings.CUSTOM_FIELDS_EDITABLE_BY_REPS = True
    field = create(rep1)
    assert services.custom_field_update(by=rep1, field=field, label="Budget").label == "Budget"
    with pytest.raises(PermissionDenied):
        create(analyst, name="other")


def test_inactive_user_may_not_manage_fields(manager):
    manager.is_active = False
    assert not can_manage_custom_fields(manager)


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("Budget", "lowercase letters"),
        ("1budget", "lowercase letters"),
        ("budget-range", "lowercase letters"),
        ("budget__range", "two underscores"),
        ("budget_min", "_min or _max"),
        ("seats_max", "_min or _max"),
        ("contains", "reserved"),
        ("id", "reserved"),
        ("x" * 51, "at most 50"),
        ("", "This field cannot be blank."),
    ],
)
def test_bad_names_are_refused(manager, name, fragment):
    with pytest.raises(ValidationFailed) as info:
        create(manager, name=name, type="text")
    assert any(fragment in m for m in info.value.details["name"])


def test_fifty_character_name_is_fine(manager):
    assert create(manager, name="a" * 50, type="text").name == "a" * 50


def test_duplicate_name_on_the_same_entity_type_is_refused(manager):
    create(manager)
    with pytest.raises(Conflict) as info:
        create(manager, type="text")
    assert info.value.details == {
        "name": ["A person custom field named 'budget_range' already exists."]
    }
    assert create(manager, entity_type="deal").entity_type == "deal"


@pytest.mark.parametrize(
    ("type_", "options", "fragment"),
    [
        ("dropdown", [], "at least one option"),
        ("multi_select", ["   "], "at least one option"),
        ("dropdown", ["a", "A"], "listed twice"),
        ("dropdown", ["a", 3], "must be text"),
        ("dropdown", ["x" * 101], "longer than 100"),
        ("text", ["a"], "only used by dropdown and multi-select"),
        ("number", ["1"], "only used by dropdown and multi-select"),
    ],
)
def test_options_must_fit_the_type(manager, type_, options, fragment):
    with pytest.raises(ValidationFailed) as info:
        create(manager, type=type_, options=options)
    assert any(fragment in m for m in info.value.details["options"])


def test_unknown_type_and_entity_type_are_refused(manager):
    with pytest.raises(ValidationFailed) as info:
        create(manager, type="colour")
    assert "type" in info.value.details
    with pytest.raises(ValidationFailed) as info:
        create(manager, entity_type="ticket", type="text")
    assert "entity_type" in info.value.details


# --- update ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attr", "value"), [("name", "budget"), ("type", "multi_select"), ("entity_type", "lead")]
)
def test_name_type_and_entity_type_are_immutable(manager, attr, value):
    field = create(manager)
    with pytest.raises(Conflict) as info:
        services.custom_field_update(by=manager, field=field, **{attr: value})
    assert "cannot be changed" in info.value.details[attr][0]
    field.refresh_from_db()
    assert getattr(field, attr) != value


def test_sending_the_same_name_and_type_back_is_fine(manager):
    field = create(manager)
    updated = services.custom_field_update(
        by=manager,
        field=field,
        name="budget_range",
        type="dropdown",
        entity_type="person",
        label="Budget",
    )
    assert updated.label == "Budget"


def test_update_changes_the_editable_attributes(manager):
    field = create(manager)
    services.custom_field_update(
        by=manager,
        field=field,
        label="Budget band",
        options=["small", "medium", "large", "huge"],
        is_required=True,
        show_in_table=True,
        help_text="Yearly",
        display_order=5,
    )
    field.refresh_from_db()
    assert (field.label, field.is_required, field.show_in_table, field.display_order) == (
        "Budget band",
        True,
        True,
        5,
    )
    assert field.options == ["small", "medium", "large", "huge"]


def test_unknown_attribute_is_refused(manager):
    field = create(manager)
    with pytest.raises(ValidationFailed) as info:
        services.custom_field_update(by=manager, field=field, colour="red")
    assert "colour" in info.value.details


def test_rep_may_not_update(manager, rep1):
    field = create(manager)
    with pytest.raises(PermissionDenied):
        services.custom_field_update(by=rep1, field=field, label="x")


def test_update_validates_like_create(manager):
    field = create(manager)
    # No options for a dropdown: the stored (unchangeable) type needs them, 409.
    with pytest.raises(Conflict) as info:
        services.custom_field_update(by=manager, field=field, options=[])
    assert "options" in info.value.details
    with pytest.raises(ValidationFailed) as info:
        services.custom_field_update(by=manager, field=field, label="")
    assert "label" in info.value.details


def test_removing_an_option_in_use_is_refused_with_the_count(manager, make_person):
    field = create(manager)
    make_person({"budget_range": "large"})
    make_person({"budget_range": "large"})
    make_person({"budget_range": "small"})
    with pytest.raises(Conflict) as info:
        services.custom_field_update(by=manager, field=field, options=["small", "medium"])
    assert info.value.details == {
        "options": [
            "Option 'large' is still used by 2 people; change those records before removing it."
        ]
    }
    field.refresh_from_db()
    assert field.options == ["small", "medium", "large"]


def test_removing_an_unused_option_and_reordering_are_fine(manager, make_person):
    field = create(manager)
    make_person({"budget_range": "small"})
    services.custom_field_update(by=manager, field=field, options=["large", "small"])
    field.refresh_from_db()
    assert field.options == ["large", "small"]


def test_removing_a_multi_select_option_in_use_is_refused(manager, make_person):
    field = create(manager, name="interests", type="multi_select", options=["crm", "erp"])
    make_person({"interests": ["crm", "erp"]})
    make_person({"interests": ["crm"]})
    with pytest.raises(Conflict) as info:
        services.custom_field_update(by=manager, field=field, options=["erp"])
    assert "used by 2 people" in info.value.details["options"][0]


def test_option_in_use_on_an_organization_counts_organizations(manager):
    from crm.models import Organization

    field = create(manager, entity_type="organization", name="tier", options=["gold", "silver"])
    Organization.objects.create(name="Acme", custom_field_values={"tier": "gold"})
    with pytest.raises(Conflict) as info:
        services.custom_field_update(by=manager, field=field, options=["silver"])
    assert "used by 1 organization;" in info.value.details["options"][0]


@pytest.fixture
def lead_unregistered(monkeypatch):
    from customfields import registry

    monkeypatch.delitem(registry._entities, "lead", raising=False)


def test_options_of_an_unregistered_entity_type_can_change(manager, lead_unregistered):
    # An entity type whose app has not registered its model has no records to count.
    field = create(manager, entity_type="lead")
    services.custom_field_update(by=manager, field=field, options=["small"])
    field.refresh_from_db()
    assert field.options == ["small"]


def test_usage_count_counts_records_with_a_value(manager, make_person, lead_unregistered):
    field = create(manager, name="seats", type="number")
    make_person({"seats": 3})
    make_person({})
    assert services.usage_count(field=field) == 1
    assert services.usage_count(field=create(manager, entity_type="lead", type="text")) is None


def test_soft_deleted_records_do_not_count(manager, make_person):
    from django.utils import timezone

    field = create(manager)
    make_person({"budget_range": "large"}, deleted_at=timezone.now())
    services.custom_field_update(by=manager, field=field, options=["small"])


# --- activate, deactivate, reorder ----------------------------------------------------------


def test_deactivate_and_activate(manager, make_person):
    field = create(manager)
    person = make_person({"budget_range": "small"})
    assert services.custom_field_deactivate(by=manager, field=field).is_active is False
    person.refresh_from_db()
    assert person.custom_field_values == {"budget_range": "small"}
    assert services.custom_field_activate(by=manager, field=field).is_active is True


def test_rep_may_not_deactivate(manager, rep1):
    field = create(manager)
    with pytest.raises(PermissionDenied):
        services.custom_field_deactivate(by=rep1, field=field)


def test_reorder_puts_named_fields_first(manager):
    for name in ("a_field", "b_field", "c_field", "d_field"):
        create(manager, name=name, type="text")
    ordered = services.custom_field_reorder(
        by=manager, entity_type="person", names=["c_field", "a_field"]
    )
    assert [f.name for f in ordered] == ["c_field", "a_field", "b_field", "d_field"]
    stored = CustomFieldDefinition.objects.filter(entity_type="person").order_by("display_order")
    assert [f.name for f in stored] == ["c_field", "a_field", "b_field", "d_field"]
    assert [f.display_order for f in stored] == [10, 20, 30, 40]


def test_reorder_refuses_repeated_names(manager):
    create(manager, name="a_field", type="text")
    with pytest.raises(ValidationFailed) as info:
        services.custom_field_reorder(
            by=manager, entity_type="person", names=["a_field", "a_field", "zzz"]
        )
    assert info.value.details == {"names": ["'a_field' is listed more than once."]}


def test_reorder_of_an_unknown_name_is_not_found(manager):
    create(manager, name="a_field", type="text")
    with pytest.raises(NotFound) as info:
        services.custom_field_reorder(by=manager, entity_type="person", names=["a_field", "zzz"])
    assert info.value.details == {"names": ["Unknown custom field 'zzz'."]}


def test_reorder_needs_permission(manager, rep1):
    create(manager, name="a_field", type="text")
    with pytest.raises(PermissionDenied):
        services.custom_field_reorder(by=rep1, entity_type="person", names=["a_field"])


# --- move up / down (the management page's buttons) ------------------------------------------


def _order(entity_type: str = "person") -> list[str]:
    return list(
        CustomFieldDefinition.objects.filter(entity_type=entity_type)
        .order_by("display_order")
        .values_list("name", flat=True)
    )


def test_move_up_and_down_swaps_with_the_neighbour(manager):
    for name in ("a_field", "b_field", "c_field"):
        create(manager, name=name, type="text")
    create(manager, name="lead_field", type="text", entity_type="lead")
    b_field = CustomFieldDefinition.objects.get(entity_type="person", name="b_field")
    ordered = services.custom_field_move(by=manager, field=b_field, direction="up")
    assert [f.name for f in ordered] == ["b_field", "a_field", "c_field"]
    assert _order() == ["b_field", "a_field", "c_field"]
    services.custom_field_move(by=manager, field=b_field, direction="down")
    services.custom_field_move(by=manager, field=b_field, direction="down")
    assert _order() == ["a_field", "c_field", "b_field"]
    assert _order("lead") == ["lead_field"]


def test_move_past_either_end_changes_nothing(manager):
    first = create(manager, name="a_field", type="text")
    last = create(manager, name="b_field", type="text")
    services.custom_field_move(by=manager, field=first, direction="up")
    services.custom_field_move(by=manager, field=last, direction="down")
    assert _order() == ["a_field", "b_field"]


def test_move_counts_inactive_fields_too(manager):
    create(manager, name="a_field", type="text")
    hidden = create(manager, name="b_field", type="text")
    services.custom_field_deactivate(by=manager, field=hidden)
    third = create(manager, name="c_field", type="text")
    services.custom_field_move(by=manager, field=third, direction="up")
    assert _order() == ["a_field", "c_field", "b_field"]


def test_move_refuses_an_unknown_direction(manager):
    field = create(manager, name="a_field", type="text")
    with pytest.raises(ValidationFailed) as info:
        services.custom_field_move(by=manager, field=field, direction="sideways")
    assert "direction" in info.value.details


def test_move_needs_permission(manager, rep1, settings):
    field = create(manager, name="a_field", type="text")
    with pytest.raises(PermissionDenied):
        services.custom_field_move(by=rep1, field=field, direction="down")
    settings.CUSTOM_FIELDS_EDITABLE_BY_REPS = True
    services.custom_field_move(by=rep1, field=field, direction="down")


def test_carried_values_take_matching_active_fields_that_fit(make_field):
    make_field(entity_type="lead", name="seats", type="number")
    make_field(entity_type="person", name="seats", type="number")
    make_field(entity_type="lead", name="size", type="dropdown", options=["S", "XL"])
    make_field(entity_type="person", name="size", type="dropdown", options=["S", "M"])
    make_field(entity_type="lead", name="note", type="text")
    make_field(entity_type="person", name="note", type="long_text")  # another type
    make_field(entity_type="lead", name="old", type="text")
    make_field(entity_type="person", name="old", type="text", is_active=False)
    make_field(entity_type="person", name="extra", type="text")  # not on leads
    values = {"seats": 5, "size": "XL", "note": "hi", "old": "x", "extra": "y"}
    assert services.carried_values(values, from_type="lead", to_type="person") == {"seats": 5}
    values["size"] = "S"
    assert services.carried_values(values, from_type="lead", to_type="person") == {
        "seats": 5,
        "size": "S",
    }
