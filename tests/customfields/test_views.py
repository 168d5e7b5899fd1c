"""The in-app management page of custom fields: who may open it, list per entity type, add and
edit in modals with inline errors, move, deactivate and activate."""

import json

import pytest
from django.urls import reverse

from customfields.models import CustomFieldDefinition

LIST = "/custom-fields/"
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def web(client):
    def login(user):
        client.force_login(user)
        return client

    return login


def field_url(field, action: str) -> str:
    return reverse(f"customfields:{action}", args=[field.pk])


# --- who may open it ------------------------------------------------------------------------


def test_anonymous_is_sent_to_login(client, db):
    response = client.get(LIST)
    assert response.status_code == 302 and "/accounts/login/" in response.url


@pytest.mark.parametrize("role", ["rep1", "analyst", "viewer"])
def test_users_without_the_permission_are_refused(web, role, request, make_field):
    field = make_field(entity_type="lead")
    client = web(request.getfixturevalue(role))
    assert client.get(LIST).status_code == 403
    assert client.get(reverse("customfields:create")).status_code == 403
    assert client.get(field_url(field, "edit")).status_code == 403
    assert client.post(field_url(field, "deactivate"), **HTMX).status_code == 403
    assert client.post(field_url(field, "move"), {"direction": "up"}, **HTMX).status_code == 403
    field.refresh_from_db()
    assert field.is_active


def test_refusal_of_an_htmx_request_has_the_error_shape(web, rep1, make_field):
    field = make_field(entity_type="lead")
    response = web(rep1).post(field_url(field, "deactivate"), **HTMX)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_the_setting_opens_the_page_to_reps(web, rep1, settings, make_field):
    settings.CUSTOM_FIELDS_EDITABLE_BY_REPS = True
    field = make_field(entity_type="lead", label="Budget")
    client = web(rep1)
    assert "Budget" in client.get(f"{LIST}?entity_type=lead").content.decode()
    assert client.post(field_url(field, "deactivate"), **HTMX).status_code == 200
    field.refresh_from_db()
    assert not field.is_active


def test_the_setting_does_not_open_the_page_to_analysts(web, analyst, settings):
    settings.CUSTOM_FIELDS_EDITABLE_BY_REPS = True
    assert web(analyst).get(LIST).status_code == 403


@pytest.mark.parametrize("role", ["manager", "admin_user"])
def test_managers_and_admins_may_open_it(web, role, request, db):
    assert web(request.getfixturevalue(role)).get(LIST).status_code == 200


def test_navigation_links_the_page_only_for_allowed_users(web, manager, rep1, settings):
    link = 'data-testid="nav-custom-fields"'
    assert link in web(manager).get("/people/").content.decode()
    assert link not in web(rep1).get("/people/").content.decode()
    settings.CUSTOM_FIELDS_EDITABLE_BY_REPS = True
    assert link in web(rep1).get("/people/").content.decode()


# --- the list -------------------------------------------------------------------------------


def test_lists_the_fields_of_one_entity_type_with_inactive_ones(web, manager, make_field):
    make_field(entity_type="lead", name="budget", label="Budget range", type="dropdown")
    make_field(entity_type="lead", name="old_code", label="Old code", is_active=False)
    make_field(entity_type="deal", name="competitor", label="Competitor")
    html = web(manager).get(f"{LIST}?entity_type=lead").content.decode()
    assert "Budget range" in html and "Old code" in html and "Inactive" in html
    assert "Competitor" not in html
    assert "small" in html  # the options


def test_unknown_entity_type_shows_leads(web, manager, make_field):
    make_field(entity_type="lead", label="Budget range")
    assert "Budget range" in web(manager).get(f"{LIST}?entity_type=nope").content.decode()


def test_empty_state_explains_and_invites_to_add(web, manager):
    html = web(manager).get(f"{LIST}?entity_type=person").content.decode()
    assert 'data-testid="custom-fields-empty"' in html
    assert "No person fields yet" in html and "Add the first person field" in html


def test_htmx_tab_switch_renders_only_the_fields_region(web, manager, make_field):
    make_field(entity_type="deal", label="Competitor")
    response = web(manager).get(f"{LIST}?entity_type=deal", **HTMX)
    html = response.content.decode()
    assert "Competitor" in html and "<html" not in html and "nav-tabs" in html


@pytest.mark.parametrize("count", [1, 10])
def test_list_query_count_is_constant(
    web, manager, make_field, count, django_assert_max_num_queries
):
    for n in range(count):
        make_field(entity_type="lead", name=f"f_{n}", type="dropdown")
    client = web(manager)
    with django_assert_max_num_queries(10):
        assert client.get(f"{LIST}?entity_type=lead").status_code == 200


# --- add ------------------------------------------------------------------------------------


def test_add_modal_renders_the_inputs(web, manager):
    response = web(manager).get(f"{reverse('customfields:create')}?entity_type=deal", **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "New deal field" in html
    for name in ("label", "name", "type", "options", "help_text", "is_required", "show_in_table"):
        assert f'name="{name}"' in html
    assert 'type="hidden" name="entity_type" value="deal"' in html


def test_add_a_dropdown_field(web, manager):
    response = web(manager).post(
        f"{reverse('customfields:create')}?entity_type=lead",
        {
            "entity_type": "lead",
            "label": "Budget range",
            "name": "budget_range",
            "type": "dropdown",
            "options": "small\nmedium\n\nlarge\n",
            "is_required": "on",
            "show_in_table": "on",
            "help_text": "Their own estimate",
        },
        **HTMX,
    )
    assert response.status_code == 204
    events = json.loads(response["HX-Trigger"])
    assert events["recordSaved"] and events["closeModal"]
    field = CustomFieldDefinition.objects.get(entity_type="lead", name="budget_range")
    assert field.options == ["small", "medium", "large"]
    assert field.is_required and field.show_in_table and field.created_by == manager


def test_options_typed_for_a_text_field_are_ignored(web, manager):
    response = web(manager).post(
        reverse("customfields:create"),
        {"entity_type": "person", "label": "Nick", "name": "nick", "type": "text", "options": "a"},
        **HTMX,
    )
    assert response.status_code == 204
    assert CustomFieldDefinition.objects.get(name="nick").options == []


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": "Budget Range"}, "name", "lowercase letters"),
        ({"name": "min"}, "name", "reserved"),
        ({"options": ""}, "options", "at least one option"),
        ({"options": "a\nA"}, "options", "listed twice"),
        ({"label": ""}, "label", "required"),
    ],
)
def test_add_shows_refusals_inline(web, manager, data, field, message):
    payload = {
        "entity_type": "lead",
        "label": "Budget range",
        "name": "budget_range",
        "type": "dropdown",
        "options": "small\nlarge",
        **data,
    }
    response = web(manager).post(reverse("customfields:create"), payload, **HTMX)
    assert response.status_code == 422
    form = response.context["form"]
    assert message in " ".join(form.errors[field])
    assert "invalid-feedback" in response.content.decode()
    assert not CustomFieldDefinition.objects.exists()


def test_add_refuses_a_name_already_used(web, manager, make_field):
    make_field(entity_type="lead", name="budget_range")
    response = web(manager).post(
        reverse("customfields:create"),
        {"entity_type": "lead", "label": "Budget", "name": "budget_range", "type": "text"},
        **HTMX,
    )
    assert response.status_code == 422
    assert "already exists" in " ".join(response.context["form"].errors["name"])


def test_add_without_htmx_redirects_to_the_list(web, manager):
    response = web(manager).post(
        reverse("customfields:create"),
        {"entity_type": "deal", "label": "Competitor", "name": "competitor", "type": "text"},
    )
    assert response.status_code == 302 and response.url == f"{LIST}?entity_type=deal"


# --- edit -----------------------------------------------------------------------------------


def test_edit_modal_shows_name_and_type_as_fixed(web, manager, make_field):
    field = make_field(entity_type="lead", name="budget_range", type="dropdown")
    html = web(manager).get(field_url(field, "edit"), **HTMX).content.decode()
    assert "<code>budget_range</code>" in html and "(fixed)" in html
    assert 'name="name"' not in html and 'name="type"' not in html
    assert 'name="options"' in html


def test_edit_of_a_text_field_has_no_options_input(web, manager, make_field):
    field = make_field(entity_type="lead", type="text")
    html = web(manager).get(field_url(field, "edit"), **HTMX).content.decode()
    assert 'name="options"' not in html


def test_edit_changes_label_options_and_flags_but_never_the_name(web, manager, make_field):
    field = make_field(entity_type="lead", name="budget_range", type="dropdown")
    response = web(manager).post(
        field_url(field, "edit"),
        {
            "label": "Budget",
            "name": "renamed",
            "type": "text",
            "options": "small\nmedium\nlarge\nhuge",
            "show_in_table": "on",
        },
        **HTMX,
    )
    assert response.status_code == 204
    field.refresh_from_db()
    assert field.label == "Budget" and field.show_in_table
    assert field.options == ["small", "medium", "large", "huge"]
    assert field.name == "budget_range" and field.type == "dropdown"


def test_edit_refuses_removing_an_option_in_use_inline(web, manager, make_field, make_person):
    field = make_field(entity_type="person", name="size", type="dropdown")
    make_person({"size": "large"})
    response = web(manager).post(
        field_url(field, "edit"), {"label": "Size", "options": "small\nmedium"}, **HTMX
    )
    assert response.status_code == 422
    errors = " ".join(response.context["form"].errors["options"])
    assert "'large' is still used by 1 person" in errors
    field.refresh_from_db()
    assert field.options == ["small", "medium", "large"]


def test_edit_of_an_unknown_field_is_404(web, manager):
    url = reverse("customfields:edit", args=["00000000-0000-0000-0000-000000000000"])
    assert web(manager).get(url).status_code == 404


# --- move, deactivate, activate -------------------------------------------------------------


def test_move_answers_the_region_in_the_new_order(web, manager, make_field):
    first = make_field(entity_type="lead", name="first_field", label="First field")
    make_field(entity_type="lead", name="second_field", label="Second field")
    response = web(manager).post(field_url(first, "move"), {"direction": "down"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.index("Second field") < html.index("First field")
    assert "<html" not in html


def test_move_without_htmx_redirects(web, manager, make_field):
    field = make_field(entity_type="deal")
    response = web(manager).post(field_url(field, "move"), {"direction": "up"})
    assert response.status_code == 302 and response.url == f"{LIST}?entity_type=deal"


def test_deactivate_and_activate_keep_the_values(web, manager, make_field, make_person):
    field = make_field(entity_type="person", name="nickname", label="Nickname")
    person = make_person({"nickname": "Bob"})
    client = web(manager)
    response = client.post(field_url(field, "deactivate"), **HTMX)
    assert response.status_code == 200
    assert "deactivated" in json.loads(response["HX-Trigger"])["showToast"]["message"]
    assert 'data-testid="activate-nickname"' in response.content.decode()
    field.refresh_from_db()
    assert not field.is_active
    response = client.post(field_url(field, "activate"), **HTMX)
    assert 'data-testid="deactivate-nickname"' in response.content.decode()
    field.refresh_from_db()
    person.refresh_from_db()
    assert field.is_active and person.custom_field_values == {"nickname": "Bob"}


def test_state_changes_need_post(web, manager, make_field):
    field = make_field(entity_type="lead")
    client = web(manager)
    for action in ("move", "deactivate", "activate"):
        assert client.get(field_url(field, action)).status_code == 405
