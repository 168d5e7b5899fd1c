"""Django admin of custom fields: options as lines, read-only identity, inline errors, actions."""

import pytest
from django.urls import reverse

from customfields.admin import OptionsField
from customfields.models import CustomFieldDefinition

ADD_URL = reverse("admin:customfields_customfielddefinition_add")
LIST_URL = reverse("admin:customfields_customfielddefinition_changelist")


def change_url(field) -> str:
    return reverse("admin:customfields_customfielddefinition_change", args=[field.pk])


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def add_data(**overrides) -> dict:
    data = {
        "entity_type": "person",
        "name": "budget_range",
        "label": "Budget range",
        "type": "dropdown",
        "options": " small \r\nmedium\r\n\r\nlarge\r\n",
        "help_text": "",
        "is_required": "",
        "show_in_table": "on",
    }
    data.update(overrides)
    return data


def change_data(field, **overrides) -> dict:
    data = {
        "label": field.label,
        "options": "\n".join(field.options),
        "help_text": field.help_text,
        "is_active": "on" if field.is_active else "",
        "display_order": str(field.display_order),
    }
    data.update(overrides)
    return data


def test_options_field_round_trips_a_list_through_a_textarea():
    field = OptionsField(required=False)
    shown = field.prepare_value(["small", "medium", "large"])
    assert shown == "small\nmedium\nlarge"
    assert field.clean(shown + "\n\n  \n") == ["small", "medium", "large"]
    assert field.clean("") == []
    assert not field.has_changed(["a", "b"], "a\r\nb\r\n")
    assert field.has_changed(["a", "b"], "b\na")


def test_add_stores_options_as_a_list_and_shows_them_one_per_line(admin_client, admin_user):
    response = admin_client.post(ADD_URL, add_data())
    assert response.status_code == 302, response.context["adminform"].form.errors
    field = CustomFieldDefinition.objects.get(name="budget_range")
    assert field.options == ["small", "medium", "large"]
    assert field.show_in_table
    assert field.created_by == admin_user

    page = admin_client.get(change_url(field)).content.decode()
    assert "small\nmedium\nlarge</textarea>" in page


def test_manager_may_add_fields_in_the_admin(client, manager):
    client.force_login(manager)
    response = client.post(ADD_URL, add_data(name="tier"))
    assert response.status_code == 302
    assert CustomFieldDefinition.objects.filter(name="tier").exists()


@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"options": ""}, "options", "at least one option"),
        ({"options": "a\nA"}, "options", "listed twice"),
        ({"type": "text"}, "options", "only used by dropdown"),
        ({"name": "Budget"}, "name", "lowercase letters"),
        ({"name": "budget_max"}, "name", "_min or _max"),
    ],
)
def test_add_shows_validation_errors_inline(admin_client, overrides, field, fragment):
    response = admin_client.post(ADD_URL, add_data(**overrides))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert any(fragment in message for message in errors[field])
    assert not CustomFieldDefinition.objects.exists()


def test_duplicate_name_is_shown_inline(admin_client, make_field):
    make_field(name="budget_range", entity_type="person", type="text")
    response = admin_client.post(ADD_URL, add_data())
    assert response.status_code == 200
    assert response.context["adminform"].form.errors


def test_identity_is_read_only_on_change(admin_client, make_field):
    field = make_field(name="seats", type="number")
    response = admin_client.get(change_url(field))
    form = response.context["adminform"].form
    assert "name" not in form.fields
    assert "type" not in form.fields
    assert "entity_type" not in form.fields
    assert "seats" in response.content.decode()

    # A forged POST cannot change them either.
    response = admin_client.post(
        change_url(field), change_data(field, name="places", type="text", label="Places")
    )
    assert response.status_code == 302
    field.refresh_from_db()
    assert (field.name, field.type, field.label) == ("seats", "number", "Places")


def test_change_edits_options(admin_client, make_field):
    field = make_field(name="size", type="dropdown", options=["S", "M"])
    response = admin_client.post(change_url(field), change_data(field, options="S\nM\nL"))
    assert response.status_code == 302
    field.refresh_from_db()
    assert field.options == ["S", "M", "L"]


def test_removing_an_option_in_use_is_shown_inline(admin_client, make_field, make_person):
    field = make_field(name="size", type="dropdown", options=["S", "M"])
    make_person({"size": "M"})
    response = admin_client.post(change_url(field), change_data(field, options="S"))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["options"] == [
        "Option 'M' is still used by 1 person; change those records before removing it."
    ]
    field.refresh_from_db()
    assert field.options == ["S", "M"]


def test_changelist_edits_order_and_active_inline(admin_client, make_field):
    first = make_field(name="first", display_order=10)
    second = make_field(name="second", display_order=20)
    page = admin_client.get(LIST_URL)
    assert page.status_code == 200
    forms = page.context["cl"].formset.forms
    data = {
        "form-TOTAL_FORMS": str(len(forms)),
        "form-INITIAL_FORMS": str(len(forms)),
        "_save": "Save",
    }
    for i, form in enumerate(forms):
        field = form.instance
        data[f"form-{i}-id"] = str(field.pk)
        data[f"form-{i}-display_order"] = "30" if field == first else str(field.display_order)
        data[f"form-{i}-is_active"] = "" if field == second else "on"
    response = admin_client.post(LIST_URL, data)
    assert response.status_code == 302
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.display_order == 30
    assert second.is_active is False


def test_changelist_filters(admin_client, make_field):
    make_field(name="lead_field", entity_type="lead", type="number")
    make_field(name="person_field", entity_type="person")
    page = admin_client.get(LIST_URL, {"entity_type__exact": "lead"})
    assert [f.name for f in page.context["cl"].result_list] == ["lead_field"]
    page = admin_client.get(LIST_URL, {"type__exact": "text"})
    assert [f.name for f in page.context["cl"].result_list] == ["person_field"]


def test_activate_and_deactivate_actions(admin_client, make_field):
    fields = [make_field(name=f"f{i}") for i in range(2)]
    ids = [str(f.pk) for f in fields]
    admin_client.post(LIST_URL, {"action": "deactivate_fields", "_selected_action": ids})
    assert not CustomFieldDefinition.objects.filter(is_active=True).exists()
    admin_client.post(LIST_URL, {"action": "activate_fields", "_selected_action": ids})
    assert CustomFieldDefinition.objects.filter(is_active=True).count() == 2


def test_fields_cannot_be_deleted_in_the_admin(admin_client, make_field):
    field = make_field(name="seats")
    delete_url = reverse("admin:customfields_customfielddefinition_delete", args=[field.pk])
    assert admin_client.post(delete_url, {"post": "yes"}).status_code == 403
    assert CustomFieldDefinition.objects.filter(pk=field.pk).exists()
