"""Bad input never fails a page (issue 14): the tables, boards, "load more" and exports answer
a filter value beyond 64 bits with the filter's error (the table and board) or a 400 (an
export, before anything is streamed), never a 500."""

from __future__ import annotations

import pytest

from deals.records import DEALS
from leads.records import LEADS
from tests.deals.factories import make_deal
from tests.factories import OrganizationFactory, PersonFactory
from tests.leads.factories import LeadFactory

HUGE = "99999999999999999999"

TABLE_FILTERS = [
    ("/leads/", "owner"),
    ("/leads/", "assigned_to"),
    ("/leads/", "step"),
    ("/leads/", "score_min"),
    ("/deals/", "owner"),
    ("/deals/", "assigned_to"),
    ("/deals/", "step"),
    ("/deals/", "workflow"),
    ("/people/", "owner"),
    ("/organizations/", "owner"),
]


@pytest.fixture
def records(rep1):
    LeadFactory(owner=rep1, name="Visible lead")
    make_deal(rep1, name="Visible deal")
    PersonFactory(owner=rep1)
    OrganizationFactory(owner=rep1)


@pytest.mark.parametrize(("url", "param"), TABLE_FILTERS)
@pytest.mark.parametrize("htmx", [False, True])
def test_table_shows_the_error_of_a_filter_beyond_64_bits(web, manager, records, url, param, htmx):
    headers = {"HX-Request": "true"} if htmx else {}
    response = web(manager).get(url, {param: HUGE}, headers=headers)
    assert response.status_code == 200
    assert "Ensure this value is less than or equal to" in response.content.decode()


@pytest.mark.parametrize(
    ("url", "param"),
    [
        ("/leads/board/", "owner"),
        ("/leads/board/", "assigned_to"),
        ("/deals/board/", "owner"),
        ("/deals/board/", "assigned_to"),
        ("/deals/board/", "workflow"),
        ("/leads/board/", "workflow"),
    ],
)
@pytest.mark.parametrize("htmx", [False, True])
def test_board_with_a_value_beyond_64_bits_is_not_an_error(web, manager, records, url, param, htmx):
    headers = {"HX-Request": "true"} if htmx else {}
    response = web(manager).get(url, {param: HUGE}, headers=headers)
    assert response.status_code == 200
    assert "Visible" in response.content.decode()


@pytest.mark.parametrize("url", ["/leads/board/column/", "/deals/board/column/"])
@pytest.mark.parametrize(
    "params",
    [
        {"after": HUGE},
        {"offset": HUGE},
        {"after": "abc", "offset": "-5"},
        {"owner": HUGE},
        {"workflow": HUGE},
    ],
)
def test_board_load_more_with_huge_values_is_not_an_error(web, manager, records, url, params):
    record_type = LEADS if url.startswith("/leads") else DEALS
    step = next(iter(record_type.board.steps()))
    response = web(manager).get(url, {"column": step.pk, **params})
    assert response.status_code == 200, response.content[:300]


@pytest.mark.parametrize("url", ["/leads/board/column/", "/deals/board/column/"])
@pytest.mark.parametrize("column", [HUGE, "abc", ""])
def test_board_load_more_of_an_unknown_column_is_404(web, manager, url, column):
    response = web(manager).get(url, {"column": column})
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("url", "param"),
    [
        ("/leads/export.csv", "owner"),
        ("/leads/export.csv", "assigned_to"),
        ("/leads/export.csv", "step"),
        ("/deals/export.csv", "owner"),
        ("/deals/export.csv", "assigned_to"),
        ("/deals/export.csv", "workflow"),
        ("/people/export.csv", "owner"),
        ("/organizations/export.csv", "owner"),
    ],
)
@pytest.mark.parametrize("htmx", [False, True])
def test_export_with_a_filter_beyond_64_bits_is_400_before_streaming(
    web, manager, records, url, param, htmx
):
    headers = {"HX-Request": "true"} if htmx else {}
    response = web(manager).get(url, {param: HUGE}, headers=headers)
    assert response.status_code == 400
    assert not response.streaming
    if htmx:
        assert response.json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize("value", ["maybe", "2"])
def test_table_shows_the_error_of_an_invalid_boolean(web, manager, records, value):
    response = web(manager).get("/leads/", {"is_qualified": value})
    assert response.status_code == 200
    assert "Qualified" in response.content.decode()
    assert "Select a valid choice" in response.content.decode()
