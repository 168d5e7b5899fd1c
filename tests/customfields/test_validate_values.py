"""services.validate_values: one test per rule, every type valid and invalid."""

import datetime as dt
from decimal import Decimal

import pytest

from crm.errors import ValidationFailed
from customfields.services import validate_values


def validate(values, **kwargs):
    return validate_values(entity_type="person", values=values, **kwargs)


def errors_of(values, **kwargs) -> dict:
    with pytest.raises(ValidationFailed) as info:
        validate(values, **kwargs)
    return info.value.details


# --- types ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "stored"),
    [("Hello", "Hello"), ("  padded  ", "padded"), ("x" * 1000, "x" * 1000)],
)
def test_text_accepts_and_strips(make_field, raw, stored):
    make_field(name="nickname", type="text")
    assert validate({"nickname": raw}) == {"nickname": stored}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("x" * 1001, "Nickname: must be at most 1,000 characters (it has 1,001)."),
        (42, "Nickname: must be text."),
        (["a"], "Nickname: must be text."),
    ],
)
def test_text_refuses_too_long_and_non_text(make_field, raw, message):
    make_field(name="nickname", label="Nickname", type="text")
    assert errors_of({"nickname": raw}) == {"custom_field_values.nickname": [message]}


def test_long_text_allows_20000_characters_and_refuses_more(make_field):
    make_field(name="notes", label="Notes", type="long_text")
    text = "line\n" * 4000  # 20,000 characters, stripped to 19,999
    assert validate({"notes": text}) == {"notes": text.strip()}
    details = errors_of({"notes": "y" * 20001})
    assert details["custom_field_values.notes"][0].startswith("Notes: must be at most 20,000")


@pytest.mark.parametrize(
    ("raw", "stored"),
    [(5, 5), ("12", 12), (" -3 ", -3), (7.0, 7), ("1e3", 1000), (Decimal("4"), 4)],
)
def test_number_is_stored_as_int(make_field, raw, stored):
    make_field(name="seats", type="number")
    result = validate({"seats": raw})
    assert result == {"seats": stored}
    assert type(result["seats"]) is int


@pytest.mark.parametrize("raw", ["abc", 1.5, "2.5", True, "1_000", "NaN", float("inf")])
def test_number_refuses_non_integers(make_field, raw):
    make_field(name="seats", label="Seats", type="number")
    message = errors_of({"seats": raw})["custom_field_values.seats"][0]
    assert message.startswith("Seats: ")
    assert "whole number" in message


def test_number_refuses_values_javascript_cannot_hold(make_field):
    make_field(name="seats", label="Seats", type="number")
    assert validate({"seats": 2**53 - 1}) == {"seats": 2**53 - 1}
    assert "between" in errors_of({"seats": 2**53})["custom_field_values.seats"][0]


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("1250.50", "1250.50"),
        (Decimal("0.10"), "0.10"),
        (0.1, "0.1"),
        (3, "3"),
        ("1E+2", "100"),
        ("-0.00", "0.00"),
    ],
)
def test_decimal_is_stored_as_a_plain_string(make_field, raw, stored):
    make_field(name="budget", type="decimal")
    assert validate({"budget": raw}) == {"budget": stored}


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("12,5", "is not a number"),
        (True, "must be a number"),
        ("NaN", "finite"),
        ("Infinity", "finite"),
        ("0.00000000001", "at most 10 decimal places"),
        ("1" * 16, "too large"),
        ([1], "must be a number"),
    ],
)
def test_decimal_refuses_bad_input(make_field, raw, fragment):
    make_field(name="budget", label="Budget", type="decimal")
    message = errors_of({"budget": raw})["custom_field_values.budget"][0]
    assert message.startswith("Budget: ")
    assert fragment in message


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("2024-02-29", "2024-02-29"),
        (dt.date(2025, 1, 31), "2025-01-31"),
        (" 2024-01-05 ", "2024-01-05"),
    ],
)
def test_date_is_stored_as_iso(make_field, raw, stored):
    make_field(name="renewal", type="date")
    assert validate({"renewal": raw}) == {"renewal": stored}


@pytest.mark.parametrize(
    "raw", ["2023-02-29", "05/01/2024", "20240105", "2024-1-5", 20240105, dt.datetime(2024, 1, 1)]
)
def test_date_refuses_anything_but_a_calendar_date(make_field, raw):
    make_field(name="renewal", label="Renewal", type="date")
    message = errors_of({"renewal": raw})["custom_field_values.renewal"][0]
    assert message.startswith("Renewal: ")
    assert "date" in message


@pytest.mark.parametrize(
    ("raw", "stored"),
    [(True, True), (False, False), ("true", True), ("False", False), ("1", True), ("no", False)],
)
def test_boolean_accepts_booleans_and_form_strings(make_field, raw, stored):
    make_field(name="newsletter", type="boolean")
    assert validate({"newsletter": raw}) == {"newsletter": stored}


@pytest.mark.parametrize("raw", ["maybe", 2, 1.0, ["true"]])
def test_boolean_refuses_other_values(make_field, raw):
    make_field(name="newsletter", label="Newsletter", type="boolean")
    message = errors_of({"newsletter": raw})["custom_field_values.newsletter"][0]
    assert message.startswith("Newsletter: ")
    assert "true or false" in message


def test_dropdown_accepts_an_option_and_stores_its_spelling(make_field):
    make_field(name="budget_range", type="dropdown", options=["Small", "Medium", "Large"])
    assert validate({"budget_range": "Medium"}) == {"budget_range": "Medium"}
    assert validate({"budget_range": " large "}) == {"budget_range": "Large"}


def test_dropdown_refuses_a_value_outside_the_options(make_field):
    make_field(
        name="budget_range",
        label="Budget range",
        type="dropdown",
        options=["small", "medium", "large"],
    )
    assert errors_of({"budget_range": "huge"}) == {
        "custom_field_values.budget_range": [
            "Budget range: 'huge' is not one of: small, medium, large"
        ]
    }
    assert "must be one of" in errors_of({"budget_range": 3})["custom_field_values.budget_range"][0]


def test_multi_select_keeps_option_order_and_drops_duplicates(make_field):
    make_field(name="interests", type="multi_select", options=["crm", "erp", "bi", "hr"])
    result = validate({"interests": ["hr", "crm", "HR", "bi", "crm"]})
    assert result == {"interests": ["crm", "bi", "hr"]}


def test_multi_select_refuses_values_outside_the_options(make_field):
    make_field(name="interests", label="Interests", type="multi_select", options=["crm", "erp"])
    message = errors_of({"interests": ["crm", "cms", "ai"]})["custom_field_values.interests"][0]
    assert message == "Interests: 'cms', 'ai' are not among the options: crm, erp"


@pytest.mark.parametrize("raw", ["crm", {"crm": True}, 5])
def test_multi_select_needs_a_list(make_field, raw):
    make_field(name="interests", label="Interests", type="multi_select", options=["crm"])
    message = errors_of({"interests": raw})["custom_field_values.interests"][0]
    assert message.startswith("Interests: must be a list of options")


def test_url_needs_http_or_https(make_field):
    make_field(name="website", label="Website", type="url")
    assert validate({"website": " https://example.com/a?b=1 "}) == {
        "website": "https://example.com/a?b=1"
    }
    for bad in ["example.com", "ftp://example.com", "javascript:alert(1)", "http://"]:
        message = errors_of({"website": bad})["custom_field_values.website"][0]
        assert message.startswith("Website: ")
        assert "valid web address" in message


def test_email_is_validated_and_its_domain_lowercased(make_field):
    make_field(name="billing_email", label="Billing email", type="email")
    assert validate({"billing_email": "Ann.Lee@Example.COM"}) == {
        "billing_email": "Ann.Lee@example.com"
    }
    message = errors_of({"billing_email": "not-an-email"})["custom_field_values.billing_email"][0]
    assert message == "Billing email: 'not-an-email' is not a valid email address."


# --- required, unknown, clearing ------------------------------------------------------------


def test_required_field_missing_on_create_is_refused(make_field):
    make_field(name="industry_code", label="Industry code", type="text", is_required=True)
    assert errors_of({}) == {
        "custom_field_values.industry_code": ["Industry code: this field is required."]
    }
    assert validate({"industry_code": "A1"}) == {"industry_code": "A1"}


@pytest.mark.parametrize("partial", [False, True])
def test_required_field_cannot_be_cleared_on_update(make_field, partial):
    make_field(name="industry_code", label="Industry code", type="text", is_required=True)
    details = errors_of({"industry_code": ""}, partial=partial, existing={"industry_code": "A1"})
    assert details == {
        "custom_field_values.industry_code": ["Industry code: this field is required."]
    }


def test_partial_update_validates_only_submitted_keys_and_keeps_the_rest(make_field):
    make_field(name="industry_code", type="text", is_required=True)
    make_field(name="seats", type="number")
    result = validate({"seats": "3"}, partial=True, existing={"industry_code": "A1", "seats": 1})
    assert result == {"industry_code": "A1", "seats": 3}


def test_partial_update_still_needs_every_required_value(make_field):
    # A field made required after the record was created must be filled on its next edit.
    make_field(name="industry_code", label="Industry code", type="text", is_required=True)
    make_field(name="seats", type="number")
    details = errors_of({"seats": 3}, partial=True, existing={"seats": 1})
    assert details == {
        "custom_field_values.industry_code": ["Industry code: this field is required."]
    }


def test_full_update_replaces_the_active_values(make_field):
    make_field(name="nickname", type="text")
    make_field(name="seats", type="number")
    assert validate({"seats": 2}, existing={"nickname": "Bob", "seats": 1}) == {"seats": 2}


def test_unknown_key_is_refused(make_field):
    make_field(name="nickname", type="text")
    assert errors_of({"nick": "x"}) == {
        "custom_field_values.nick": ["Unknown custom field 'nick'."]
    }


def test_field_of_another_entity_type_is_unknown(make_field):
    make_field(name="deal_size", entity_type="deal", type="number")
    assert "custom_field_values.deal_size" in errors_of({"deal_size": 1})


@pytest.mark.parametrize("empty", [None, "", "   ", []])
def test_empty_values_clear_an_optional_field(make_field, empty):
    make_field(name="nickname", type="text")
    make_field(name="interests", type="multi_select", options=["a", "b"])
    existing = {"nickname": "Bob", "interests": ["a"]}
    result = validate({"nickname": empty, "interests": empty}, partial=True, existing=existing)
    assert result == {}


def test_false_is_a_value_not_an_empty_one(make_field):
    make_field(name="newsletter", type="boolean", is_required=True)
    assert validate({"newsletter": False}) == {"newsletter": False}


def test_values_must_be_an_object(make_field):
    with pytest.raises(ValidationFailed) as info:
        validate(["nickname"])
    assert "custom_field_values" in info.value.details


def test_every_error_is_reported_at_once_with_a_summary(make_field):
    make_field(name="seats", label="Seats", type="number")
    make_field(name="renewal", label="Renewal", type="date")
    with pytest.raises(ValidationFailed) as info:
        validate({"seats": "x", "renewal": "y", "nope": 1})
    assert set(info.value.details) == {
        "custom_field_values.seats",
        "custom_field_values.renewal",
        "custom_field_values.nope",
    }
    assert info.value.message == "3 custom field values are not valid."


def test_single_error_is_the_message(make_field):
    make_field(name="seats", label="Seats", type="number")
    with pytest.raises(ValidationFailed) as info:
        validate({"seats": "x"})
    assert info.value.message == "Seats: 'x' is not a whole number."


def test_result_follows_display_order(make_field):
    make_field(name="second", type="text", display_order=20)
    make_field(name="first", type="text", display_order=10)
    assert list(validate({"second": "b", "first": "a"})) == ["first", "second"]


# --- inactive fields ------------------------------------------------------------------------


def test_writing_to_an_inactive_field_is_refused(make_field):
    make_field(name="legacy_code", label="Legacy code", type="text", is_active=False)
    details = errors_of({"legacy_code": "new"}, partial=True, existing={"legacy_code": "old"})
    assert details["custom_field_values.legacy_code"][0].startswith(
        "Legacy code: this field is inactive"
    )


def test_clearing_an_inactive_field_is_refused(make_field):
    make_field(name="legacy_code", type="text", is_active=False)
    details = errors_of({"legacy_code": None}, partial=True, existing={"legacy_code": "old"})
    assert "custom_field_values.legacy_code" in details


def test_sending_an_inactive_fields_stored_value_back_is_accepted(make_field):
    make_field(name="legacy_code", type="text", is_active=False)
    result = validate({"legacy_code": "old"}, existing={"legacy_code": "old"})
    assert result == {"legacy_code": "old"}


@pytest.mark.parametrize("partial", [False, True])
def test_inactive_values_are_preserved_on_merge(make_field, partial):
    make_field(name="legacy_code", type="text", is_active=False)
    make_field(name="nickname", type="text")
    result = validate(
        {"nickname": "Bo"}, partial=partial, existing={"legacy_code": "old", "nickname": "B"}
    )
    assert result == {"nickname": "Bo", "legacy_code": "old"}


def test_inactive_required_field_is_not_required(make_field):
    make_field(name="legacy_code", type="text", is_active=False, is_required=True)
    assert validate({}) == {}


def test_reactivating_brings_the_stored_value_back(make_field, manager):
    from customfields.selectors import active_values
    from customfields.services import custom_field_activate, custom_field_deactivate

    field = make_field(name="legacy_code", type="text")
    nickname = make_field(name="nickname", type="text")
    stored = validate({"legacy_code": "old", "nickname": "B"})

    custom_field_deactivate(by=manager, field=field)
    assert active_values("person", stored) == {"nickname": "B"}
    stored = validate({"nickname": "Bo"}, existing=stored)
    assert stored == {"nickname": "Bo", "legacy_code": "old"}

    custom_field_activate(by=manager, field=field)
    assert active_values("person", stored) == {"legacy_code": "old", "nickname": "Bo"}
    assert nickname.is_active


def test_keys_without_a_definition_in_existing_are_kept(make_field):
    make_field(name="nickname", type="text")
    result = validate({"nickname": "x"}, existing={"imported_only": 1})
    assert result == {"nickname": "x", "imported_only": 1}


def test_definitions_can_be_passed_in_to_save_the_query(make_field, django_assert_num_queries):
    from customfields.selectors import definitions_for

    make_field(name="nickname", type="text")
    definitions = definitions_for("person")
    with django_assert_num_queries(0):
        assert validate({"nickname": "x"}, definitions=definitions) == {"nickname": "x"}
