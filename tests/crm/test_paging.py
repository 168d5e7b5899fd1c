"""Counts that stop at a limit, pages that read one row more, and cursor (keyset) pages
(crm.paging, crm.rest.Pagination, the tables' footer)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.relations import PKOnlyObject

from crm import paging
from crm.api import OrganizationSerializer, PersonSerializer
from deals.api import DealSerializer
from deals.selectors import deal_list
from leads.api import LeadSerializer
from leads.models import Lead
from leads.selectors import lead_list
from tests.crm.test_api import assert_error_shape
from tests.deals.factories import make_deal
from tests.factories import OrganizationFactory, PersonFactory
from tests.leads.factories import LeadFactory

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the planner's estimate is PostgreSQL's"
)


def _leads(owner, n, **fields):
    return [LeadFactory(owner=owner, **fields) for _ in range(n)]


# --- counts ------------------------------------------------------------------------------------
def test_count_is_exact_up_to_the_limit(manager):
    _leads(manager, 5)
    total = paging.count(Lead.objects.all(), limit=5)
    assert (total.value, total.exact) == (5, True)


def test_count_above_the_limit_is_not_exact_and_at_least_the_limit_plus_one(manager):
    _leads(manager, 8)
    total = paging.count(Lead.objects.all(), limit=5)
    assert not total.exact
    assert total.value >= 6 and total.known == 6
    if connection.vendor != "postgresql":
        assert total.value == 6 and total.capped  # no estimate: "5+"


def test_count_reads_at_most_limit_plus_one_rows(manager):
    _leads(manager, 3)
    with CaptureQueriesContext(connection) as queries:
        paging.count(Lead.objects.all(), limit=2)
    counted = queries.captured_queries[0]["sql"]
    assert "COUNT(*)" in counted.upper() and re.search(r"LIMIT 3\b", counted)


@postgres_only
def test_postgresql_estimates_from_the_planner(manager):
    _leads(manager, 30)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE leads_lead")
    total = paging.count(Lead.objects.all(), limit=5)
    assert not total.exact and not total.capped
    assert 20 <= total.value <= 60  # the planner's figure, near the 30 rows
    assert paging.estimate(Lead.objects.filter(pk__in=[])) == 0


def test_rounded_estimate_keeps_two_significant_digits():
    assert paging.Count(23_817, exact=False, known=1001).rounded == 24_000
    assert paging.Count(1_049, exact=False, known=1001).rounded == 1_000 + 1
    assert paging.Count(87, exact=False, known=6).rounded == 87
    assert paging.Count(23_817, exact=True, known=23_817).rounded == 23_817


# --- offset pages --------------------------------------------------------------------------------
def test_a_page_without_a_next_one_knows_the_count_without_counting(manager):
    _leads(manager, 7)
    with CaptureQueriesContext(connection) as queries:
        page = paging.window(Lead.objects.order_by("pk"), number=2, size=5, limit=3)
    assert len(queries.captured_queries) == 1
    assert (page.total.value, page.total.exact, page.has_next) == (7, True, False)
    assert [page.start_index, page.end_index] == [6, 7]


def test_a_page_with_a_next_one_counts_in_its_own_query(manager):
    _leads(manager, 12)
    with CaptureQueriesContext(connection) as queries:
        page = paging.window(Lead.objects.order_by("pk"), number=1, size=5, limit=100)
    assert len(queries.captured_queries) == 1
    assert (page.total.value, page.total.exact, page.has_next) == (12, True, True)
    assert page.num_pages == 3


def test_past_the_limit_the_known_rows_bound_the_count_and_the_pages(manager):
    _leads(manager, 12)
    page = paging.window(Lead.objects.order_by("pk"), number=2, size=5, limit=3)
    assert page.has_next and not page.total.exact
    assert page.total.known == 11  # ten rows read before and on this page, and one more
    assert page.nearby_pages() == [1, 2, 3]  # page 3 is known to exist, page 4 is not
    assert page.num_pages is None


# --- the API's count ------------------------------------------------------------------------------
def test_api_count_is_exact_below_the_limit(api_as, rep1):
    _leads(rep1, 3)
    data = api_as(rep1).get("/api/v1/leads/?page_size=2").json()
    assert (data["count"], data["count_exact"]) == (3, True)
    assert data["next"] and data["previous"] is None


def test_api_count_above_the_limit_is_an_estimate_and_next_still_leads_on(
    api_as, rep1, rep2, settings
):
    settings.EXACT_COUNT_LIMIT = 4
    _leads(rep1, 9)
    _leads(rep2, 3)  # not the rep's: never in their count
    client = api_as(rep1)
    first = client.get("/api/v1/leads/?page_size=3").json()
    assert first["count_exact"] is False and first["count"] >= 5
    seen = [r["id"] for r in first["results"]]
    url = first["next"]
    while url:
        page = client.get(url).json()
        seen += [r["id"] for r in page["results"]]
        url = page["next"]
    assert len(seen) == len(set(seen)) == 9
    # The last page knows the exact count: the rows before it and its own.
    assert (page["count"], page["count_exact"]) == (9, True)
    assert page["previous"]


def test_api_page_past_the_end_is_404(api_as, rep1):
    _leads(rep1, 2)
    assert_error_shape(api_as(rep1).get("/api/v1/leads/?page=2"), 404, "not_found")
    # A page whose offset would overflow the database's OFFSET is as far past the end (SQLite
    # answered "datatype mismatch", a 500, for this one of the fuzzer's).
    for far in ("657035897734119680", "999999999999999999", str(10**9)):
        assert_error_shape(
            api_as(rep1).get(f"/api/v1/deals/?page={far}&page_size=200"), 404, "not_found"
        )
    assert api_as(rep1).get("/api/v1/leads/?page=1").json()["count"] == 2
    assert api_as(rep1).get("/api/v1/leads/?page=last&page_size=1").json()["previous"]


@pytest.mark.parametrize("rows", [3, 12])
def test_api_list_queries_do_not_grow_with_the_rows(
    api_as, rep1, rows, settings, django_assert_max_num_queries
):
    settings.EXACT_COUNT_LIMIT = 5
    _leads(rep1, rows)
    client = api_as(rep1)
    with django_assert_max_num_queries(8):
        assert client.get("/api/v1/leads/?page_size=2").status_code == 200
    with django_assert_max_num_queries(8):
        assert client.get("/api/v1/leads/?page_size=2&pagination=cursor").status_code == 200


# --- cursor pages -----------------------------------------------------------------------------
def _walk(client, url, *, edit=None, limit=100):
    """Every result of a cursor walk from ``url``; ``edit(page_number)`` runs between pages."""
    ids, pages = [], 0
    while url and pages < limit:
        response = client.get(url)
        assert response.status_code == 200, response.content
        data = response.json()
        assert "count" not in data and "count_exact" not in data
        ids += [r["id"] for r in data["results"]]
        pages += 1
        url = data["next"]
        if edit:
            edit(pages)
    return ids


def _scores(owner, scores):
    return [LeadFactory(owner=owner, lead_score=score) for score in scores]


def test_cursor_walk_is_complete_in_the_ordering_without_repeats(api_as, manager):
    leads = _scores(manager, [50, 70, 70, 70, 10, 90, 70, 30, 30, 70, 50, 0, 100])
    client = api_as(manager)
    ids = _walk(client, "/api/v1/leads/?pagination=cursor&ordering=-lead_score&page_size=4")
    expected = [str(x.pk) for x in sorted(leads, key=lambda x: (-x.lead_score, x.pk))]
    assert ids == expected
    by_pages = client.get("/api/v1/leads/?ordering=-lead_score&page_size=100").json()["results"]
    assert [r["id"] for r in by_pages] == expected  # the same order as page numbers give


def test_cursor_walk_skips_and_repeats_nothing_while_rows_come_and_go(api_as, manager):
    leads = _scores(manager, [80, 80, 70, 60, 60, 60, 50, 40, 30, 20])
    client = api_as(manager)
    added = {}

    def edit(page):
        if page == 1:  # after 80, 80, 70: one before the walk's position, one after
            added["before"] = LeadFactory(owner=manager, lead_score=90)
            added["after"] = LeadFactory(owner=manager, lead_score=60)
            added["tie"] = LeadFactory(owner=manager, lead_score=70)  # by its id
            leads[8].delete()  # 30: not read yet, gone before it is reached

    ids = _walk(
        client, "/api/v1/leads/?pagination=cursor&ordering=-lead_score&page_size=3", edit=edit
    )
    assert len(ids) == len(set(ids))
    assert str(added["before"].pk) not in ids
    assert str(added["after"].pk) in ids
    # A new tie of the walk's last row (70, the third lead) comes after it when its id does.
    assert (str(added["tie"].pk) in ids) == (added["tie"].pk > leads[2].pk)
    assert str(leads[8].pk) not in ids
    unchanged = [x for i, x in enumerate(leads) if i != 8]
    assert {str(x.pk) for x in unchanged} <= set(ids)


def test_cursor_walk_with_a_nullable_ordering_puts_empty_values_last(api_as, manager):
    day = dt.date(2026, 1, 1)
    leads = [
        LeadFactory(owner=manager, estimated_close_date=date)
        for date in [None, day, None, day + dt.timedelta(days=2), day, None, None]
    ]
    client = api_as(manager)
    for ordering in ("estimated_close_date", "-estimated_close_date"):
        by_pages = client.get(f"/api/v1/leads/?ordering={ordering}&page_size=100").json()
        ids = _walk(client, f"/api/v1/leads/?pagination=cursor&ordering={ordering}&page_size=2")
        assert ids == [r["id"] for r in by_pages["results"]]
        assert set(ids) == {str(x.pk) for x in leads}
        empty_last = [r["estimated_close_date"] for r in by_pages["results"][-4:]]
        assert empty_last == [None] * 4


def test_cursor_walk_in_the_default_order_and_for_other_record_types(api_as, manager):
    _leads(manager, 5)
    for i in range(4):
        PersonFactory(owner=manager, last_name=f"Person {i}")
        OrganizationFactory(owner=manager, name=f"Organization {i}")
        make_deal(manager, amount=100 * (i % 2))  # ties on the amount
    client = api_as(manager)
    for resource, size in (("leads", 5), ("people", 4), ("organizations", 4), ("deals", 4)):
        by_pages = client.get(f"/api/v1/{resource}/?page_size=100").json()["results"]
        ids = _walk(client, f"/api/v1/{resource}/?pagination=cursor&page_size=2")
        assert ids == [r["id"] for r in by_pages] and len(ids) == size, resource
    ids = _walk(client, "/api/v1/people/?pagination=cursor&page_size=3&ordering=-last_name")
    assert len(ids) == len(set(ids)) == 4
    ids = _walk(client, "/api/v1/deals/?pagination=cursor&page_size=1&ordering=-amount")
    assert len(ids) == len(set(ids)) == 4


def test_cursor_previous_leads_back_to_the_page_before(api_as, manager):
    _scores(manager, [5, 5, 5, 4, 4, 3, 2, 2, 1])
    client = api_as(manager)
    first = client.get("/api/v1/leads/?pagination=cursor&ordering=-lead_score&page_size=4").json()
    assert first["previous"] is None
    second = client.get(first["next"]).json()
    back = client.get(second["previous"]).json()
    assert [r["id"] for r in back["results"]] == [r["id"] for r in first["results"]]
    assert back["previous"] is None
    assert client.get(back["next"]).json()["results"] == second["results"]


def test_cursor_link_keeps_the_filters_and_drops_the_page(api_as, manager):
    _scores(manager, [10, 20, 30])
    client = api_as(manager)
    data = client.get(
        "/api/v1/leads/?pagination=cursor&page=3&score_min=15&ordering=-lead_score&page_size=1"
    ).json()
    query = parse_qs(urlsplit(data["next"]).query)
    assert query["score_min"] == ["15"] and query["ordering"] == ["-lead_score"]
    assert "page" not in query and "pagination" not in query and query["cursor"]
    assert len(_walk(client, data["next"])) == 1


@pytest.mark.parametrize(
    "cursor",
    [
        "nonsense",
        base64.urlsafe_b64encode(b'{"v": [1], "d": "n"}').decode(),  # one value, two keys
        base64.urlsafe_b64encode(b'{"v": ["high", "x"], "d": "n"}').decode(),
        base64.urlsafe_b64encode(b'{"v": [null, 1], "d": "n"}').decode(),  # score never NULL
        base64.urlsafe_b64encode(b'{"v": [1, 2], "d": "sideways"}').decode(),
        base64.urlsafe_b64encode(b"[]").decode(),
        base64.urlsafe_b64encode(b'{"v": [1e400, 1], "d": "n"}').decode(),
        base64.urlsafe_b64encode(b'{"v": [99999999999999999999999, 1], "d": "n"}').decode(),
        base64.urlsafe_b64encode(b'{"v": [1, "not-a-uuid"], "d": "n"}').decode(),
        base64.urlsafe_b64encode(b'{"v": [1, "\\u0000"], "d": "n"}').decode(),
    ],
)
def test_a_cursor_that_points_nowhere_is_a_404_saying_so(api_as, manager, cursor):
    """The cursor is opaque (any string is a value of the parameter): one that is not from
    an answer points to no page, as DRF's cursor pagination and a page beyond the last say."""
    _scores(manager, [1, 2])
    response = api_as(manager).get(f"/api/v1/leads/?ordering=-lead_score&cursor={cursor}")
    error = assert_error_shape(response, 404, "not_found")
    assert "cursor" in error["message"].lower()


@pytest.mark.parametrize("page", ["rÃ\u0087", "0", "-1", "\u00b2", "1.5"])
@pytest.mark.parametrize("extra", ["", "&pagination=cursor"])
def test_a_page_that_is_not_a_number_is_a_404_with_or_without_a_cursor(
    api_as, manager, page, extra
):
    """A cursor walk ignores page numbers but not a broken one (found by schemathesis: a
    ``page`` of letters beside ``pagination=cursor`` was answered 200); a digit that is not
    ASCII (``²``) is not a number either, rather than a server error."""
    _scores(manager, [1, 2])
    response = api_as(manager).get(
        "/api/v1/leads/", {"page": page, "pagination": "cursor"} if extra else {"page": page}
    )
    assert_error_shape(response, 404, "not_found")


def test_a_cursor_walk_accepts_a_page_number_and_starts_at_the_first_row(api_as, manager):
    _scores(manager, [1, 2])
    data = api_as(manager).get("/api/v1/leads/?pagination=cursor&page=2&page_size=1").json()
    assert len(data["results"]) == 1 and data["next"] and data["previous"] is None


@pytest.mark.parametrize("mode", ["pages", "AAA", "Cursor"])
def test_a_pagination_other_than_cursor_is_a_400_naming_it(api_as, manager, mode):
    response = api_as(manager).get(f"/api/v1/leads/?pagination={mode}")
    error = assert_error_shape(response, 400, "validation_error")
    assert "pagination" in error["details"]


def test_an_empty_pagination_is_page_numbers(api_as, manager):
    _scores(manager, [1, 2])
    data = api_as(manager).get("/api/v1/leads/?pagination=&page_size=1").json()
    assert data["count"] == 2 and "page=2" in data["next"]


def test_a_cursor_carries_the_position_only(api_as, manager):
    lead = _scores(manager, [7, 8])[0]
    data = (
        api_as(manager)
        .get("/api/v1/leads/?pagination=cursor&ordering=lead_score&page_size=1")
        .json()
    )
    token = parse_qs(urlsplit(data["next"]).query)["cursor"][0]
    payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    assert payload == {"v": [7, str(lead.pk)], "d": "n"}


# --- the list serializers' own representation -----------------------------------------------------
def _generic(serializer, instance) -> dict:
    """DRF's own ``Serializer.to_representation``, field by field."""
    ret = {}
    for field in serializer._readable_fields:
        attribute = field.get_attribute(instance)
        check = attribute.pk if isinstance(attribute, PKOnlyObject) else attribute
        ret[field.field_name] = None if check is None else field.to_representation(attribute)
    return ret


def test_list_representation_is_drfs_for_every_record_type(manager, rep1):
    organization = OrganizationFactory(owner=manager)
    person = PersonFactory(owner=manager, organization=organization)
    LeadFactory(
        owner=manager,
        assigned_to=rep1,
        organization=organization,
        person=person,
        estimated_close_date=dt.date(2026, 3, 1),
        lead_score=42,
    )
    LeadFactory(owner=manager)
    make_deal(manager, person=person, organization=organization, amount="1234.50")
    cases = [
        (LeadSerializer, lead_list(user=manager)),
        (DealSerializer, deal_list(user=manager)),
        (PersonSerializer, PersonSerializer.Meta.model.objects.select_related("organization")),
        (OrganizationSerializer, OrganizationSerializer.Meta.model.objects.all()),
    ]
    for zone in ("UTC", "Asia/Kolkata"):  # date-times are written in the active time zone
        with timezone.override(zone):
            for serializer_class, queryset in cases:
                rows = list(queryset)
                assert rows, serializer_class
                many = serializer_class(rows, many=True)
                assert many.data == [_generic(many.child, row) for row in rows], serializer_class
                if zone != "UTC":
                    assert many.data[0]["created_at"].endswith("+05:30")


# --- the table's footer ---------------------------------------------------------------------------
def _footer(response) -> tuple[str, list[str]]:
    text = response.content.decode()
    count = re.search(r'data-testid="row-count"[^>]*>([^<]*)<', text).group(1)
    footer = text[text.index('data-testid="row-count"') :]
    links = re.findall(r'class="page-link" href="([^"]+)"[^>]*>([^<]+)<', footer)
    return count, links


def test_table_with_an_inexact_count_says_so_and_links_only_pages_known_to_exist(
    web, manager, settings
):
    settings.EXACT_COUNT_LIMIT = 5
    _leads(manager, 12)
    client = web(manager)
    count, links = _footer(client.get("/leads/?page_size=5"))
    assert re.fullmatch(r"1–5 of (5\+|about [\d,]+) leads", count), count
    assert [label for _, label in links] == ["2", "Next"]  # 1 is this page; 3 not known yet
    assert "page=2" in links[-1][0]

    count, links = _footer(client.get("/leads/?page_size=5&page=2"))
    assert re.fullmatch(r"6–10 of (10\+|about [\d,]+) leads", count), count
    assert [label for _, label in links] == ["Previous", "1", "3", "Next"]

    response = client.get("/leads/?page_size=5&page=3")  # the last: the count is exact
    count, links = _footer(response)
    assert count == "11–12 of 12"
    assert "3 / 3" in response.content.decode()
    assert [label for _, label in links] == ["Previous"]


def test_table_with_an_exact_count_is_as_before(web, manager):
    _leads(manager, 3)
    response = web(manager).get("/leads/?page_size=2")
    count, links = _footer(response)
    assert count == "1–2 of 3"
    assert "1 / 2" in response.content.decode()
    assert [label for _, label in links] == ["Next"]
    count, _ = _footer(web(manager).get("/leads/"))
    assert count == "3 leads"


def test_table_page_past_the_end_shows_the_last_page(web, manager, settings):
    settings.EXACT_COUNT_LIMIT = 2
    _leads(manager, 7)
    response = web(manager).get("/leads/?page_size=3&page=9")
    assert response.context["page"].number == 3
    assert _footer(response)[0] == "7–7 of 7"
    assert web(manager).get("/leads/?page_size=3&page=x").context["page"].number == 1


@pytest.mark.parametrize("rows", [4, 13])
def test_table_queries_do_not_grow_with_the_rows(
    web, rep1, rows, settings, django_assert_max_num_queries
):
    settings.EXACT_COUNT_LIMIT = 5
    _leads(rep1, rows)
    client = web(rep1)
    client.get("/leads/?page_size=3")  # the session and the reference data read once
    with django_assert_max_num_queries(10):
        assert client.get("/leads/?page_size=3&page=2").status_code == 200


@pytest.mark.parametrize(
    ("kind", "values"),
    [
        ("number", [5, None, 12, 5, 7, None, 12, 1]),
        ("text", ["b", "a", None, "b", "c", None, "a", "d"]),
        (
            "date",
            ["2026-01-02", None, "2025-12-31", "2026-01-02", None, "2026-03-01", "2026-01-01"],
        ),
    ],
)
def test_cursor_walk_by_a_custom_field(api_as, manager, kind, values):
    from customfields.models import CustomFieldDefinition

    CustomFieldDefinition.objects.create(entity_type="lead", name="f", label="F", type=kind)
    leads = [
        LeadFactory(owner=manager, custom_field_values={} if v is None else {"f": v})
        for v in values
    ]
    client = api_as(manager)
    for ordering in ("cf_f", "-cf_f"):
        by_pages = client.get(f"/api/v1/leads/?ordering={ordering}&page_size=100").json()
        ids = _walk(client, f"/api/v1/leads/?pagination=cursor&ordering={ordering}&page_size=3")
        assert ids == [r["id"] for r in by_pages["results"]], ordering
        assert set(ids) == {str(x.pk) for x in leads}


def test_every_paginated_list_walks_by_cursor(api_as, manager, rep1, rep2):
    from customfields.models import CustomFieldDefinition
    from tests.activities.factories import ActivityFactory

    for n in range(3):
        CustomFieldDefinition.objects.create(
            entity_type="lead", name=f"f{n}", label=f"F{n}", type="text"
        )
        ActivityFactory(assigned_to=manager, subject=f"Call {n}")
    client = api_as(manager)
    for url in (
        "/api/v1/users/",
        "/api/v1/custom-fields/",
        "/api/v1/workflows/",
        "/api/v1/activities/",
    ):
        by_pages = client.get(f"{url}?page_size=100").json()["results"]
        assert len(by_pages) >= 2, url
        ids = _walk(client, f"{url}?pagination=cursor&page_size=1")
        assert ids == [r["id"] for r in by_pages], url


def test_pages_of_a_list_or_of_dicts_count_them_too(manager):
    _leads(manager, 4)
    page = paging.window(list(range(7)), number=2, size=3)
    assert (page.rows, page.has_next, page.total.value, page.total.exact) == (
        [3, 4, 5],
        True,
        7,
        True,
    )
    page = paging.window(Lead.objects.order_by("pk").values("pk"), number=1, size=3, limit=2)
    assert page.has_next and set(page.rows[0]) == {"pk"} and not page.total.exact


@pytest.mark.parametrize("query", ["pagination=cursor", "cursor=eyJ2IjpbXX0"])
def test_a_list_without_cursor_pages_answers_a_cursor_with_a_404(query):
    """Rows that are not a queryset of models (e.g. a conversation's messages) page by number
    only; a cursor on them points to no page."""
    from rest_framework.exceptions import NotFound
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from crm.rest import Pagination

    request = Request(APIRequestFactory().get(f"/rows/?{query}"))
    with pytest.raises(NotFound, match="no cursor pages"):
        Pagination().paginate_queryset([{"n": 1}, {"n": 2}], request)
    plain = Request(APIRequestFactory().get("/rows/?page_size=1"))
    assert Pagination().paginate_queryset([{"n": 1}, {"n": 2}], plain) == [{"n": 1}]
