"""Generated form fields: widgets, initial values, and the way back to stored values."""

import pytest
from django import forms

from crm.errors import ValidationFailed
from customfields.forms import (
    CustomFieldFormMixin,
    add_value_errors,
    form_fields,
    values_from_cleaned_data,
)
from customfields.services import validate_values


@pytest.fixture
def fields(make_field):
    make_field(name="nickname", label="Nickname", type="text", help_text="What they go by")
    make_field(name="notes", type="long_text")
    make_field(name="seats", type="number", is_required=True)
    make_field(name="budget", type="decimal")
    make_field(name="renewal", type="date")
    make_field(name="newsletter", type="boolean", is_required=True)
    make_field(name="size", type="dropdown", options=["Small", "Large"])
    make_field(name="tags", type="multi_select", options=["crm", "erp", "bi"])
    make_field(name="website", type="url")
    make_field(name="contact", type="email")
    make_field(name="legacy", type="text", is_active=False)
    make_field(name="deal_only", type="text", entity_type="deal")


def make_form(data=None, initial=None):
    class PersonCustomForm(forms.Form):
        pass

    form = PersonCustomForm(data=data)
    form.fields.update(form_fields("person", initial=initial))
    return form


def test_form_fields_are_the_active_fields_in_order(fields):
    assert list(form_fields("person", initial=None)) == [
        "cf_nickname",
        "cf_notes",
        "cf_seats",
        "cf_budget",
        "cf_renewal",
        "cf_newsletter",
        "cf_size",
        "cf_tags",
        "cf_website",
        "cf_contact",
    ]


def test_widgets_use_bootstrap_classes_and_native_inputs(fields):
    html = {
        key: str(field.widget.render(key, None))
        for key, field in form_fields("person", initial=None).items()
    }
    assert 'class="form-control"' in html["cf_nickname"]
    assert "<textarea" in html["cf_notes"]
    assert 'type="number"' in html["cf_seats"] and 'step="1"' in html["cf_seats"]
    assert 'step="any"' in html["cf_budget"]
    assert 'type="date"' in html["cf_renewal"]
    assert (
        'type="checkbox"' in html["cf_newsletter"] and "form-check-input" in html["cf_newsletter"]
    )
    assert "<select" in html["cf_size"] and 'class="form-select"' in html["cf_size"]
    assert html["cf_tags"].count('type="checkbox"') == 3
    assert 'type="url"' in html["cf_website"]
    assert 'type="email"' in html["cf_contact"]


def test_labels_help_and_required(fields):
    generated = form_fields("person", initial=None)
    assert generated["cf_nickname"].label == "Nickname"
    assert generated["cf_nickname"].help_text == "What they go by"
    assert generated["cf_seats"].required is True
    assert generated["cf_nickname"].required is False
    # A checkbox always has a value, so a required yes/no field must not demand a tick.
    assert generated["cf_newsletter"].required is False


def test_initial_values_render(fields):
    form = make_form(
        initial={"renewal": "2024-05-01", "tags": ["crm", "bi"], "size": "Large", "seats": 4}
    )
    html = str(form)
    assert 'value="2024-05-01"' in html
    assert 'value="4"' in html
    assert '<option value="Large" selected>' in html
    assert html.count("checked") == 2


def test_round_trip_from_post_to_stored_values(fields):
    form = make_form(
        data={
            "cf_nickname": " Bo ",
            "cf_notes": "",
            "cf_seats": "3",
            "cf_budget": "12.50",
            "cf_renewal": "2024-05-01",
            "cf_newsletter": "on",
            "cf_size": "Small",
            "cf_tags": ["bi", "crm"],
            "cf_website": "https://example.com",
            "cf_contact": "a@example.com",
        }
    )
    assert form.is_valid(), form.errors
    values = values_from_cleaned_data("person", form.cleaned_data)
    assert values["notes"] is None  # an emptied input clears the value
    stored = validate_values(entity_type="person", values=values)
    assert stored == {
        "nickname": "Bo",
        "seats": 3,
        "budget": "12.50",
        "renewal": "2024-05-01",
        "newsletter": True,
        "size": "Small",
        "tags": ["crm", "bi"],
        "website": "https://example.com",
        "contact": "a@example.com",
    }


def test_unticked_checkbox_stores_false(fields):
    form = make_form(data={"cf_seats": "1"})
    assert form.is_valid(), form.errors
    values = values_from_cleaned_data("person", form.cleaned_data)
    assert values["newsletter"] is False
    assert validate_values(entity_type="person", values=values)["newsletter"] is False


def test_form_refuses_bad_shapes_inline(fields):
    form = make_form(data={"cf_seats": "many", "cf_renewal": "31/12/2024", "cf_size": "Huge"})
    assert not form.is_valid()
    assert set(form.errors) == {"cf_seats", "cf_renewal", "cf_size"}


def test_service_errors_land_on_their_inputs(fields):
    form = make_form(data={"cf_seats": "1"})
    assert form.is_valid()
    exc = ValidationFailed(
        "x",
        details={
            "custom_field_values.seats": ["Seats: no."],
            "custom_field_values.gone": ["Unknown custom field 'gone'."],
        },
    )
    add_value_errors(form, exc)
    assert form.errors["cf_seats"] == ["Seats: no."]
    assert form.non_field_errors() == ["Unknown custom field 'gone'."]


def test_values_only_for_fields_in_the_form(fields):
    assert values_from_cleaned_data("person", {"cf_seats": 2, "other": 1}) == {"seats": 2}


def test_form_mixin_adds_fields_and_reads_the_instance(fields, make_person):
    from crm.models import Person

    class PersonForm(CustomFieldFormMixin, forms.ModelForm):
        cf_entity_type = "person"

        class Meta:
            model = Person
            fields = ["first_name"]

    person = make_person({"seats": 5, "legacy": "kept"})
    form = PersonForm(instance=person)
    assert form.fields["cf_seats"].initial == 5
    assert "cf_legacy" not in form.fields
    assert form.custom_field_names()[0] == "cf_nickname"

    form = PersonForm(data={"first_name": "Ann", "cf_seats": "7"}, instance=person)
    assert form.is_valid(), form.errors
    stored = validate_values(
        entity_type="person",
        values=form.custom_field_values(),
        existing=person.custom_field_values,
    )
    assert stored == {"seats": 7, "newsletter": False, "legacy": "kept"}

    form.add_value_errors(ValidationFailed("x", details={"custom_field_values.seats": ["No"]}))
    assert form.errors["cf_seats"] == ["No"]


def test_help_text_is_escaped_since_templates_render_it_as_html(make_field):
    make_field(name="nickname", help_text="<script>alert(1)</script> & more")
    help_text = form_fields("person", initial=None)["cf_nickname"].help_text
    assert help_text == "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more"


def test_multi_select_checkboxes_are_styled_one_by_one(make_field):
    make_field(name="tags", type="multi_select", options=["crm", "erp"])
    html = str(form_fields("person", initial=None)["cf_tags"].widget.render("cf_tags", ["crm"]))
    assert html.startswith('<div class="cf-checkboxes">')
    assert html.count('class="form-check-input"') == 2
