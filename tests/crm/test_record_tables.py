"""The one record table (crm.records.tables) for every record type: URL state, headers,
filters, bulk actions by role, saved views and CSV export."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.db import connection
from django.http import QueryDict
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch

from crm.models import Organization, Person, SavedView
from crm.records import exports, registry
from crm.records.tables import TableState
from tests.deals.factories import make_deal
from tests.factories import OrganizationFactory, PersonFactory
from tests.leads.factories import LeadFactory

LIST_URLS = {
    "lead": "/leads/",
    "deal": "/deals/",
    "person": "/people/",
    "organization": "/organizations/",
}


def html(response) -> str:
    return response.content.decode()


def _make(kind: str, owner, **fields):
    if kind == "lead":
        return LeadFactory(owner=owner, **fields)
    if kind == "deal":
        return make_deal(owner, **fields)
    if kind == "person":
        return PersonFactory(owner=owner, **fields)
    return OrganizationFactory(owner=owner, **fields)


# --- URL state --------------------------------------------------------------------------------
def test_state_drops_empty_values_and_keeps_the_last_of_a_single_parameter():
    state = TableState.from_query(
        QueryDict("source=&ordering=lead_score&ordering=&owner=3&owner=4&search=%20&clear=1")
    )
    assert state.params.urlencode() == "ordering=lead_score&owner=4"


def test_state_keeps_chosen_columns_once_each_in_order():
    state = TableState.from_query(QueryDict("columns=score&columns=name&columns=score"))
    assert state.params.getlist("columns") == ["score", "name"]


def test_state_links_replace_one_parameter():
    state = TableState.from_query(QueryDict("step=2&ordering=name&page=3"))
    assert state.url("/leads/", ordering="-name", page=None) == "/leads/?step=2&ordering=-name"
    assert state.filter_query == "step=2"


# --- the table page ---------------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(LIST_URLS))
def test_table_markup_contract(web, manager, kind):
    obj = _make(kind, manager)
    key = registry.get(kind).columns[0].ordering
    page = html(web(manager).get(f"{LIST_URLS[kind]}?ordering=-{key}"))
    assert f'data-table="{kind}"' in page
    assert f'<tr id="row-{obj.pk}" data-id="{obj.pk}"' in page
    assert f'<th scope="col" data-sort="{key}" aria-sort="descending"' in page
    assert page.count("aria-sort=") == 1  # only the active header


@pytest.mark.parametrize("kind", list(LIST_URLS))
def test_record_links_are_what_reverse_writes(manager, kind):
    from django.urls import reverse, set_script_prefix

    from crm.records.types import record_url

    obj = _make(kind, manager)
    rt = registry.get(kind)
    try:
        for prefix in ("/", "/crm/"):
            set_script_prefix(prefix)
            assert rt.record_url("detail", obj.pk) == reverse(rt.url_name("detail"), args=[obj.pk])
            assert rt.record_url("detail", obj.pk).startswith(f"{prefix}")
            # A key of another type than the URL takes is refused as reverse refuses it.
            with pytest.raises(NoReverseMatch):
                record_url(rt.url_name("detail"), "not-a-key")
    finally:
        set_script_prefix("/")


def test_rows_escape_what_records_hold(web, manager):
    lead = LeadFactory(owner=manager, name='<img src=x onerror="alert(1)">', company_name="A&B")
    page = html(web(manager).get("/leads/"))
    assert "<img src=x" not in page
    assert 'aria-label="Select &lt;img src=x onerror=&quot;alert(1)&quot;&gt;"' in page
    assert f'href="/leads/{lead.pk}/">&lt;img src=x onerror=&quot;alert(1)&quot;&gt;</a>' in page
    assert "<td>A&amp;B</td>" in page


@pytest.mark.parametrize("direction", ["", "-"])
def test_records_without_a_value_sort_last_and_others_keep_the_index_order(web, manager, direction):
    """A nullable column sorts its empty rows last both ways; a column that cannot be empty
    is ordered without NULLS LAST, so the database can read it from its index."""
    from leads.filters import LeadFilter
    from leads.models import Lead

    dated = LeadFactory(owner=manager, estimated_close_date="2027-01-05", lead_score=10)
    undated = LeadFactory(owner=manager, estimated_close_date=None, lead_score=90)
    rows = (
        web(manager)
        .get(f"/leads/?ordering={direction}estimated_close_date")
        .context["page"]
        .object_list
    )
    assert [r.pk for r in rows] == [dated.pk, undated.pk]
    rows = web(manager).get(f"/leads/?ordering={direction}lead_score").context["page"]
    expected = [dated.pk, undated.pk] if not direction else [undated.pk, dated.pk]
    assert [r.pk for r in rows.object_list] == expected

    def sql(ordering):
        query = QueryDict(f"ordering={direction}{ordering}")
        return str(LeadFilter(query, queryset=Lead.objects.all()).qs.query).upper()

    assert "NULLS LAST" not in sql("lead_score")
    assert "NULLS LAST" in sql("estimated_close_date")
    assert "NULLS LAST" in sql("assigned_to")  # a nullable relation on the way


@pytest.mark.parametrize("kind", list(LIST_URLS))
def test_untouched_filter_inputs_are_not_errors(web, manager, kind):
    _make(kind, manager)
    rt = registry.get(kind)
    empty = "&".join(f"{f.param}=" for f in rt.filters)
    response = web(manager).get(f"{LIST_URLS[kind]}?{empty}&search=&ordering=")
    assert response.status_code == 200
    assert "not valid" not in html(response)
    assert len(response.context["page"].object_list) == 1


@pytest.mark.parametrize("kind", list(LIST_URLS))
def test_sort_header_links_hold_each_parameter_once(web, manager, kind):
    _make(kind, manager)
    key = registry.get(kind).columns[0].ordering
    response = web(manager).get(f"{LIST_URLS[kind]}?search=a&ordering={key}&page=1")
    for header in response.context["headers"]:
        if header["url"]:
            params = QueryDict(header["url"].split("?", 1)[1])
            assert all(len(values) == 1 for _, values in params.lists()), header["url"]
            assert "page" not in params
    active = next(h for h in response.context["headers"] if h["key"] == key)
    assert active["url"].endswith(f"search=a&ordering=-{key}")


def test_htmx_refresh_updates_the_sort_input_and_links_out_of_band(web, manager):
    page = html(web(manager).get("/leads/?ordering=-lead_score&step=", HTTP_HX_REQUEST="true"))
    assert (
        '<input type="hidden" id="f-ordering" name="ordering" value="-lead_score" '
        'form="filters" hx-swap-oob="true">'
    ) in page
    assert 'id="save-view-query" name="query" value="ordering=-lead_score"' in page
    assert 'href="/leads/export.csv?ordering=-lead_score"' in page


def test_a_bad_filter_value_is_named(web, manager):
    response = web(manager).get("/deals/?amount_min=lots")
    assert response.status_code == 200
    assert "Some filters are not valid: Amount from: Enter a number." in html(response)


@pytest.mark.parametrize(("user_fixture", "bulk"), [("rep1", True), ("manager", True)])
def test_bulk_bar_for_users_who_change_records(db, web, request, user_fixture, bulk):
    user = request.getfixturevalue(user_fixture)
    _make("lead", user)
    page = html(web(user).get("/leads/"))
    assert ('id="bulk-form"' in page) is bulk and ("data-bulk-item" in page) is bulk


@pytest.mark.parametrize("kind", list(LIST_URLS))
@pytest.mark.parametrize("user_fixture", ["analyst", "viewer"])
def test_no_bulk_bar_or_new_button_for_read_only_roles(web, request, manager, kind, user_fixture):
    user = request.getfixturevalue(user_fixture)
    _make(kind, manager)
    page = html(web(user).get(LIST_URLS[kind]))
    assert 'id="bulk-form"' not in page and "data-bulk-item" not in page
    assert f'data-testid="new-{kind}"' not in page


def test_read_only_roles_cannot_post_a_bulk_action(web, analyst, manager):
    lead = LeadFactory(owner=manager)
    response = web(analyst).post(
        "/leads/bulk/", {"ids": [lead.pk], "action": "delete"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "You may not change leads in bulk."


def test_viewer_empty_state_names_only_what_exists(web, viewer):
    page = html(web(viewer).get("/leads/"))
    empty = page[page.index('<div class="empty-state">') :]
    empty = empty[: empty.index("</div>")]
    assert "Nothing has been shared with you yet." in empty
    assert "web form" not in empty and "import" not in empty and "Add" not in empty


@pytest.mark.parametrize("kind", ["person", "organization"])
def test_people_and_organizations_bulk_delete_their_own(web, rep1, kind):
    mine = _make(kind, rep1)
    response = web(rep1).post(
        f"{LIST_URLS[kind]}bulk/", {"ids": [mine.pk], "action": "delete"}, HTTP_HX_REQUEST="true"
    )
    assert json.loads(response["HX-Trigger"])["showToast"]["message"] == "1 deleted."
    model = Person if kind == "person" else Organization
    assert not model.objects.filter(pk=mine.pk).exists()


@pytest.mark.parametrize("kind", list(LIST_URLS))
@pytest.mark.parametrize("rows", [2, 30])
def test_table_query_count_is_constant(web, manager, kind, rows, django_assert_max_num_queries):
    for _ in range(rows):
        _make(kind, manager)
    client = web(manager)
    with django_assert_max_num_queries(10):
        response = client.get(f"{LIST_URLS[kind]}?ordering=-created_at")
    assert len(response.context["page"].object_list) == rows


# --- saved views ------------------------------------------------------------------------------
def test_saving_a_view_confirms_and_lists_it(web, rep1):
    response = web(rep1).post(
        "/deals/views/save/",
        {"view_name": "Big", "query": "amount_min=5000&page=2&amount_max="},
        HTTP_HX_REQUEST="true",
    )
    assert json.loads(response["HX-Trigger"])["showToast"]["message"] == "View “Big” saved."
    assert "Big" in html(response)
    assert SavedView.objects.get(user=rep1, screen="deals").query == "amount_min=5000"


def test_rename_default_and_delete_a_view(web, rep1, rep2):
    client = web(rep1)
    client.post("/people/views/save/", {"view_name": "Mine", "query": "search=ann"})
    view = SavedView.objects.get(user=rep1, screen="people")
    client.post(f"/people/views/{view.pk}/rename/", {"name": "Anns"}, HTTP_HX_REQUEST="true")
    view.refresh_from_db()
    assert view.name == "Anns"

    client.post(f"/people/views/{view.pk}/default/", HTTP_HX_REQUEST="true")
    response = client.get("/people/")  # no query: the default view opens
    assert response.status_code == 302 and response.url == "/people/?search=ann"
    assert client.get("/people/?clear=1").status_code == 200  # "Clear" shows everything

    other = Client()
    other.force_login(rep2)
    assert other.post(f"/people/views/{view.pk}/delete/").status_code == 404
    client.post(f"/people/views/{view.pk}/delete/", HTTP_HX_REQUEST="true")
    assert not SavedView.objects.filter(pk=view.pk).exists()
    rep1.refresh_from_db()
    assert rep1.preferences["default_views"] == {}
    assert client.get("/people/").status_code == 200


# --- CSV export -------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(LIST_URLS))
def test_export_holds_the_filtered_set(web, manager, rep1, kind):
    mine = _make(kind, manager)
    _make(kind, rep1)
    response = web(manager).get(f"{LIST_URLS[kind]}export.csv?owner={manager.pk}")
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [r["id"] for r in rows] == [str(mine.pk)]
    assert rows[0]["owner"] == manager.username


def test_export_neutralises_formula_cells(web, manager):
    LeadFactory(owner=manager, name='=HYPERLINK("http://evil")', company_name="+1 Corp")
    body = b"".join(web(manager).get("/leads/export.csv").streaming_content).decode()
    row = next(csv.DictReader(io.StringIO(body)))
    assert row["name"] == '\'=HYPERLINK("http://evil")' and row["company_name"] == "'+1 Corp"


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_formula_starts_are_quoted(text):
    assert exports.cell(text) == f"'{text}"


def test_export_with_a_bad_filter_is_a_400_before_streaming(web, manager):
    response = web(manager).get("/deals/export.csv?amount_min=lots")
    assert response.status_code == 400 and not response.streaming
    assert "Amount from: Enter a number." in html(response)


@pytest.mark.parametrize("kind", sorted(LIST_URLS))
def test_the_user_filters_offer_only_the_users_one_may_list(kind, web, viewer, rep1, rep2):
    # crm.selectors.user_directory: a sales rep picks among everyone who holds records; a
    # viewer, who lists no other user anywhere (API, AI agent), is not shown them here either.
    def owner_options(user) -> set[str]:
        page = html(web(user).get(LIST_URLS[kind]))
        select = page.split('name="owner">', 1)[1].split("</select>", 1)[0]
        return {o.split('"', 1)[0] for o in select.split('<option value="')[1:]} - {""}

    assert {str(rep1.pk), str(rep2.pk)} <= owner_options(rep1)
    assert owner_options(viewer) <= {str(viewer.pk)}


# --- what a page reads ------------------------------------------------------------------------
def _lead_query(captured) -> str:
    return next(q["sql"] for q in captured if q["sql"].startswith('SELECT "leads_lead"."'))


def _count(refresh) -> str:
    """The filter count badge an HTMX answer updates out of band."""
    body = html(refresh)
    return body.split('<span id="filter-count" hx-swap-oob="true">')[1].split("</span></span>")[0]


@pytest.mark.parametrize("rows", [2, 12])
def test_every_lead_column_shown_at_once_reads_no_query_per_row(
    web, manager, rep1, rows, django_assert_max_num_queries
):
    """Each column says what it joins (``Column.related``); a cell reading a relation its
    column did not name would cost a query per row."""
    organization = OrganizationFactory(owner=manager)
    for _ in range(rows):
        LeadFactory(owner=rep1, assigned_to=manager, organization=organization)
    keys = [c.key for c in registry.get("lead").columns]
    query = "&".join(f"columns={k}" for k in keys)
    client = web(manager)
    with django_assert_max_num_queries(10):
        response = client.get(f"/leads/?{query}")
    assert len(response.context["page"].object_list) == rows
    assert rep1.display_name in html(response) and manager.display_name in html(response)


def test_lead_rows_join_only_what_their_columns_show(web, manager, rep1):
    LeadFactory(owner=rep1, assigned_to=rep1, organization=OrganizationFactory(owner=rep1))
    client = web(manager)
    with CaptureQueriesContext(connection) as captured:
        client.get("/leads/")
    default = _lead_query(captured)
    assert "crm_organization" not in default and '"leads_lead"."owner_id" = ' not in default
    assert '"leads_lead"."assigned_to_id" = ' in default  # the Assignee column
    assert '"leads_lead"."lead_score_factors"' not in default  # no JSON document a cell skips
    with CaptureQueriesContext(connection) as captured:
        client.get("/leads/?columns=name&columns=owner")
    chosen = _lead_query(captured)
    assert '"leads_lead"."owner_id" = ' in chosen and "wfm_status" not in chosen


def test_a_rows_refresh_reads_no_filter_choices_and_keeps_the_filter_count(web, manager, rep1):
    """An HTMX refresh of the rows leaves the filter bar as it is: it reads no users or
    steps for it, but updates the count badge out of band."""
    LeadFactory(owner=rep1)
    client = web(manager)
    with CaptureQueriesContext(connection) as page:
        client.get("/leads/?source=web")
    with CaptureQueriesContext(connection) as refresh:
        response = client.get("/leads/?source=web", HTTP_HX_REQUEST="true")
    assert len(refresh) < len(page)
    assert not any('FROM "crm_user"' in q["sql"] and "may_own" in q["sql"] for q in refresh)
    assert not any('FROM "wfm_workflowstep"' in q["sql"] for q in refresh)
    assert _count(response).endswith(">1")
