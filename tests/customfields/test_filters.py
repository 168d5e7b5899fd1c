"""cf_ filters and ordering against real Person rows. Run on SQLite and on PostgreSQL."""

import django_filters
import pytest
from django.http import QueryDict

from crm.errors import ValidationFailed
from crm.models import Person
from customfields.filters import (
    CustomFieldFilterSetMixin,
    apply_cf_filters,
    order_by_cf,
    parse_cf_ordering,
)


def names(queryset) -> list[str]:
    return [p.first_name for p in queryset]


def matching(params) -> set[str]:
    if isinstance(params, str):
        params = QueryDict(params)
    return set(names(apply_cf_filters(Person.objects.all(), "person", params)))


def refused(params) -> dict:
    with pytest.raises(ValidationFailed) as info:
        matching(params)
    return info.value.details


@pytest.fixture
def fields(make_field):
    return {
        "nickname": make_field(name="nickname", label="Nickname", type="text"),
        "seats": make_field(name="seats", label="Seats", type="number"),
        "budget": make_field(name="budget", label="Budget", type="decimal"),
        "renewal": make_field(name="renewal", label="Renewal", type="date"),
        "newsletter": make_field(name="newsletter", label="Newsletter", type="boolean"),
        "size": make_field(
            name="size", label="Size", type="dropdown", options=["Small", "Medium", "Large"]
        ),
        "tags": make_field(
            name="tags",
            label="Tags",
            type="multi_select",
            options=["crm", "crm_plus", "erp", "Été"],
        ),
        "website": make_field(name="website", label="Website", type="url"),
        "contact": make_field(name="contact", label="Contact", type="email"),
        "legacy": make_field(name="legacy", label="Legacy", type="text", is_active=False),
    }


@pytest.fixture
def people(fields, make_person):
    make_person(
        {
            "nickname": "Bob",
            "seats": 9,
            "budget": "9.50",
            "renewal": "2024-01-31",
            "newsletter": True,
            "size": "Small",
            "tags": ["crm", "erp"],
            "website": "https://a.example",
            "contact": "a@example.com",
            "legacy": "old",
        },
        first_name="A",
    )
    make_person(
        {
            "nickname": "bob",
            "seats": 10,
            "budget": "1250.50",
            "renewal": "2024-02-01",
            "newsletter": False,
            "size": "Large",
            "tags": ["crm_plus"],
        },
        first_name="B",
    )
    make_person(
        {"seats": 100, "budget": "20", "renewal": "2023-12-31", "size": "Medium", "tags": ["Été"]},
        first_name="C",
    )
    make_person({}, first_name="D")
    # Not valid data (written around the service); must never match a multi-select filter.
    make_person({"tags": "crm", "nickname": '["crm"]'}, first_name="E")


# --- equality -------------------------------------------------------------------------------


def test_text_equality_is_exact(people):
    assert matching({"cf_nickname": "Bob"}) == {"A"}
    assert matching({"cf_nickname": "bob"}) == {"B"}
    assert matching({"cf_nickname": "Bo"}) == set()


def test_number_equality(people):
    assert matching({"cf_seats": "10"}) == {"B"}
    assert matching({"cf_seats": "1"}) == set()


def test_decimal_equality_is_numeric(people):
    assert matching({"cf_budget": "1250.5"}) == {"B"}
    assert matching({"cf_budget": "20.00"}) == {"C"}


def test_date_equality(people):
    assert matching({"cf_renewal": "2024-02-01"}) == {"B"}


def test_boolean_true_and_false(people):
    assert matching({"cf_newsletter": "true"}) == {"A"}
    # An unticked checkbox and no value look the same: false matches both.
    assert matching({"cf_newsletter": "false"}) == {"B", "C", "D", "E"}


def test_dropdown_equality_ignores_the_case_of_the_parameter(people):
    assert matching({"cf_size": "Large"}) == {"B"}
    assert matching({"cf_size": "medium"}) == {"C"}


def test_multi_select_contains_the_option(people):
    assert matching({"cf_tags": "crm"}) == {"A"}
    assert matching({"cf_tags": "crm_plus"}) == {"B"}
    assert matching({"cf_tags": "erp"}) == {"A"}
    assert matching({"cf_tags": "Été"}) == {"C"}


def test_repeated_multi_select_parameter_needs_every_option(people):
    assert matching("cf_tags=crm&cf_tags=erp") == {"A"}
    assert matching("cf_tags=crm&cf_tags=crm_plus") == set()


def test_url_and_email_equality(people):
    assert matching({"cf_website": "https://a.example"}) == {"A"}
    assert matching({"cf_contact": "a@EXAMPLE.com"}) == {"A"}


def test_filters_combine_with_and(people):
    assert matching({"cf_tags": "crm", "cf_seats_min": "5", "cf_size": "Small"}) == {"A"}
    assert matching({"cf_tags": "crm", "cf_size": "Large"}) == set()


# --- ranges ---------------------------------------------------------------------------------


def test_number_range_compares_numerically(people):
    assert matching({"cf_seats_min": "10"}) == {"B", "C"}
    assert matching({"cf_seats_max": "10"}) == {"A", "B"}
    assert matching({"cf_seats_min": "9", "cf_seats_max": "99"}) == {"A", "B"}


def test_decimal_range_compares_numerically(people):
    # As strings "9.50" > "20" > "1250.50"; as numbers the order is the reverse.
    assert matching({"cf_budget_min": "10"}) == {"B", "C"}
    assert matching({"cf_budget_max": "20"}) == {"A", "C"}
    assert matching({"cf_budget_min": "9.5", "cf_budget_max": "9.5"}) == {"A"}


def test_date_range(people):
    assert matching({"cf_renewal_min": "2024-01-01"}) == {"A", "B"}
    assert matching({"cf_renewal_max": "2024-01-31"}) == {"A", "C"}
    assert matching({"cf_renewal_min": "2024-02-01", "cf_renewal_max": "2024-02-01"}) == {"B"}


# --- refusals and ignored input -------------------------------------------------------------


def test_empty_values_and_other_parameters_are_ignored(people):
    assert matching({"cf_seats": "", "search": "x", "page": "2"}) == {"A", "B", "C", "D", "E"}


@pytest.mark.parametrize(
    ("params", "key", "fragment"),
    [
        ({"cf_seats": "ten"}, "cf_seats", "Seats: 'ten' is not a whole number."),
        ({"cf_seats_min": "1.5"}, "cf_seats_min", "Seats: '1.5' is not a whole number."),
        ({"cf_budget_max": "lots"}, "cf_budget_max", "Budget: 'lots' is not a number."),
        ({"cf_renewal_min": "01/02/2024"}, "cf_renewal_min", "Renewal: '01/02/2024' is not"),
        ({"cf_newsletter": "maybe"}, "cf_newsletter", "Newsletter: 'maybe' is not true"),
        ({"cf_size": "Huge"}, "cf_size", "Size: 'Huge' is not one of: Small, Medium, Large"),
        ({"cf_tags": "cms"}, "cf_tags", "Tags: 'cms' is not one of"),
        ({"cf_nickname_min": "a"}, "cf_nickname_min", "Nickname: _min and _max filters apply"),
        ({"cf_nope": "1"}, "cf_nope", "Unknown custom field filter 'cf_nope'."),
        ({"cf_legacy": "old"}, "cf_legacy", "Legacy: this field is inactive"),
        ({"cf_website": "not a url"}, "cf_website", "Website: 'not a url' is not a valid"),
    ],
)
def test_bad_filters_name_the_parameter(people, params, key, fragment):
    details = refused(params)
    assert list(details) == [key]
    assert details[key][0].startswith(fragment)


def test_every_bad_parameter_is_reported(people):
    assert set(refused({"cf_seats": "x", "cf_nope": "1"})) == {"cf_seats", "cf_nope"}


def test_other_entity_types_fields_are_unknown(people, make_field):
    make_field(name="deal_size", entity_type="deal", type="number")
    assert "cf_deal_size" in refused({"cf_deal_size": "1"})


def test_without_cf_parameters_no_query_is_made(people, django_assert_num_queries):
    with django_assert_num_queries(0):
        apply_cf_filters(Person.objects.all(), "person", {"search": "x"})


def test_filtering_costs_one_query_for_the_definitions(people, django_assert_num_queries):
    with django_assert_num_queries(2):
        assert names(apply_cf_filters(Person.objects.all(), "person", {"cf_seats": "9"})) == ["A"]


# --- ordering -------------------------------------------------------------------------------


def ordered(name, descending=False) -> list[str]:
    return names(order_by_cf(Person.objects.all(), name, descending))


def test_order_by_number_is_numeric_with_blanks_last(people):
    ascending = ordered("seats")
    assert ascending[:3] == ["A", "B", "C"]
    assert set(ascending[3:]) == {"D", "E"}
    descending = ordered("seats", descending=True)
    assert descending[:3] == ["C", "B", "A"]
    assert set(descending[3:]) == {"D", "E"}


def test_order_by_decimal_is_numeric(people):
    assert ordered("budget")[:3] == ["A", "C", "B"]
    assert ordered("budget", descending=True)[:3] == ["B", "C", "A"]


def test_order_by_date(people):
    assert ordered("renewal")[:3] == ["C", "A", "B"]


def test_order_by_dropdown_follows_the_options(people):
    assert ordered("size")[:3] == ["A", "C", "B"]  # Small, Medium, Large
    assert ordered("size", descending=True)[:3] == ["B", "C", "A"]


def test_order_by_text_ignores_case(people, make_person):
    make_person({"nickname": "alice"}, first_name="F")
    make_person({"nickname": "Carl"}, first_name="G")
    result = ordered("nickname")
    # alice < Bob = bob < Carl, whatever the database collation does with "[" (E's nickname).
    assert result.index("F") < min(result.index("A"), result.index("B"))
    assert max(result.index("A"), result.index("B")) < result.index("G")
    assert set(result[-2:]) == {"C", "D"}  # no nickname: last


def test_order_by_unknown_or_inactive_field_is_refused(people):
    for name in ("nope", "legacy"):
        with pytest.raises(ValidationFailed) as info:
            ordered(name)
        assert "ordering" in info.value.details


def test_order_by_needs_a_registered_model_or_an_entity_type(people):
    from crm.models import Event

    with pytest.raises(ValueError, match="not registered"):
        order_by_cf(Event.objects.all(), "seats")


def test_parse_cf_ordering():
    assert parse_cf_ordering("-cf_seats") == ("seats", True)
    assert parse_cf_ordering("cf_seats") == ("seats", False)
    assert parse_cf_ordering("last_name") is None
    assert parse_cf_ordering("cf_") is None


# --- django-filter integration --------------------------------------------------------------


class PersonCFFilter(CustomFieldFilterSetMixin, django_filters.FilterSet):
    cf_entity_type = "person"
    first_name = django_filters.CharFilter()
    ordering = django_filters.OrderingFilter(fields=(("first_name", "first"),))

    class Meta:
        model = Person
        fields = ["first_name"]


def filterset(query: str) -> PersonCFFilter:
    return PersonCFFilter(QueryDict(query), queryset=Person.objects.all())


def test_filterset_mixin_applies_cf_filters(people):
    assert names(filterset("cf_seats_min=10").qs) in (["B", "C"], ["C", "B"])
    assert names(filterset("cf_seats_min=10&first_name=C").qs) == ["C"]


def test_filterset_mixin_orders_by_custom_fields_keeping_term_positions(people):
    assert names(filterset("ordering=-cf_seats").qs)[:3] == ["C", "B", "A"]
    assert names(filterset("ordering=-cf_newsletter,-first").qs)[:1] == ["A"]
    assert names(filterset("ordering=-first").qs) == ["E", "D", "C", "B", "A"]


def test_filterset_mixin_raises_naming_the_parameter(people):
    with pytest.raises(ValidationFailed) as info:
        list(filterset("cf_seats=x").qs)
    assert list(info.value.details) == ["cf_seats"]


def test_filterset_mixin_without_cf_parameters_reads_no_definitions(
    people, django_assert_num_queries
):
    with django_assert_num_queries(1):
        assert names(filterset("first_name=A").qs) == ["A"]
