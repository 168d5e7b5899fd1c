"""The one record table, used as a person uses it, for each record type (issue 13).

Everything happens by clicks and typing: the table is reached from the navigation, sorted by
clicking headers, filtered through the filter bar, saved as a view from the Views menu and
reopened from it. Row order and filtered sets are checked against the REST API, which reads
the same FilterSet, so the two must agree row for row.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from playwright.sync_api import expect

from crm.records import registry
from crm.roles import Role
from tests.customfields.factories import CustomFieldFactory
from tests.e2e.helpers import in_thread, login
from tests.factories import PASSWORD, OrganizationFactory, PersonFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

API = {
    "lead": "/api/v1/leads/",
    "deal": "/api/v1/deals/",
    "person": "/api/v1/people/",
    "organization": "/api/v1/organizations/",
}
SEARCH = {"lead": "Lead", "deal": "Deal", "person": "Last", "organization": "Org"}
NAV = {"lead": "Leads", "deal": "Deals", "person": "People", "organization": "Organizations"}
# A value to type into each kind of filter input that keeps some rows and drops others.
NUMBER_VALUES = {"score_min": "40", "score_max": "60", "amount_min": "3000", "amount_max": "6000"}
TEXT_VALUES = {"industry": "Software", "first_touch_source": "google"}
# The custom field every record type gets (a dropdown), and its value on record n.
CUSTOM_FIELD = "tier"
TIERS = ["gold", "silver", "bronze"]


def _tier(n: int) -> dict:
    """Records 0, 3 gold, 1, 4 silver, the rest without a value."""
    return {CUSTOM_FIELD: TIERS[n % 3]} if n % 3 < 2 else {}


def _dataset(manager, rep) -> None:
    """Six records of each type with values that differ column by column."""
    from deals.services import deal_create
    from leads.models import Lead
    from tests.leads.factories import LeadFactory

    today = date.today()
    for entity_type in API:
        CustomFieldFactory(
            entity_type=entity_type,
            name=CUSTOM_FIELD,
            label="Tier",
            type="dropdown",
            options=TIERS,
        )
    industries = ["Software", "Retail", "Energy"]
    orgs = [
        OrganizationFactory(
            owner=manager if n % 2 else rep,
            name=f"Org {chr(70 - n)}{n}",
            domain=f"org{n}.example",
            industry=industries[n % 3],
            size=["1-10", "11-50", "51-200"][n % 3],
            custom_field_values=_tier(n),
        )
        for n in range(6)
    ]
    for n in range(6):
        PersonFactory(
            owner=manager if n % 2 else rep,
            first_name=f"First{n}",
            last_name=f"Last{chr(75 - n)}",
            email=f"p{n}@people.example",
            phone=f"+1 555 010{n}",
            job_title=["CEO", "CTO", "Buyer"][n % 3],
            organization=orgs[n],
            custom_field_values=_tier(n),
        )
    sources = [s for s, _ in Lead.Source.choices][:6]
    priorities = [p for p, _ in Lead.Priority.choices]
    for n in range(6):
        LeadFactory(
            owner=manager if n % 2 else rep,
            assigned_to=rep if n % 3 else None,
            name=f"Lead {chr(80 - n)}",
            company_name=f"Company {n}",
            contact_name=f"Contact {chr(65 + n)}",
            lead_score=15 * n,
            estimated_value=Decimal(1000 * (6 - n) + 500),
            source=sources[n],
            priority=priorities[n % 4],
            is_qualified=n % 2 == 0,
            estimated_close_date=today + timedelta(days=10 * n),
            utm_source=["google", "newsletter", "linkedin"][n % 3],
            custom_field_values=_tier(n),
        )
    for n in range(6):
        deal_create(
            by=manager,
            name=f"Deal {chr(75 + n)}",
            amount=Decimal(1500 * (n + 1)),
            organization=orgs[n],
            expected_close_date=today + timedelta(days=7 * (6 - n)),
            assigned_to=rep if n % 2 else None,
            custom_field_values=_tier(n),
        )


@pytest.fixture
def people(db):
    manager = UserFactory(username="jmanager", role=Role.MANAGER)
    rep = UserFactory(username="jrep", role=Role.SALES_REP)
    in_thread(_dataset, manager, rep)
    return manager, rep


def _row_ids(page) -> list[str]:
    return page.locator("#rows tbody tr[data-id]").evaluate_all(
        "rows => rows.map(r => r.dataset.id)"
    )


def _api_ids(page, base: str, kind: str, query: str) -> list[str]:
    ids, url = [], f"{base}{API[kind]}?{query}&page_size=200" if query else None
    url = url or f"{base}{API[kind]}?page_size=200"
    while url:
        data = page.request.get(url).json()
        ids += [str(r["id"]) for r in data["results"]]
        url = data["next"]
    return ids


def _params(page) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(page.url).query)


def _assert_each_param_once(page) -> None:
    params = _params(page)
    assert len(params) == len(set(params)), page.url
    singles = [k for k, _ in params if k != "columns"]
    assert len(singles) == len(set(singles)), page.url
    assert all(v for _, v in params), f"empty parameter in {page.url}"


def _table_query(page) -> str:
    """The page's filters and ordering as the API takes them (columns are the table's own)."""
    return "&".join(f"{k}={v}" for k, v in _params(page) if k not in {"columns", "page"})


def _settle(page) -> None:
    page.wait_for_load_state("networkidle")
    expect(page.locator(".htmx-request")).to_have_count(0)


def _wait_param(page, key: str, value: str | None = None, *, present: bool = True) -> None:
    """Wait until the address bar holds (or no longer holds) ``key`` (with ``value``)."""

    def ok(url: str) -> bool:
        values = [v for k, v in parse_qsl(urlsplit(url).query) if k == key]
        if not present:
            return not values
        return bool(values) and (value is None or value in values)

    page.wait_for_url(ok)


def _assert_rows_match_api(page, base: str, kind: str) -> None:
    _settle(page)
    expected = _api_ids(page, base, kind, _table_query(page))[:50]
    assert _row_ids(page) == expected, page.url
    assert page.locator("text=Some filters are not valid").count() == 0


def _choose(page, f, keeps_rows=None) -> str:
    """Set one filter input like a person would; returns the value chosen. ``keeps_rows``:
    a check that a choice leaves rows (the first real choice otherwise)."""
    locator = page.locator(f"#f-{f.param}")
    if f.kind in {"select", "user", "boolean"}:
        values = locator.locator("option").evaluate_all("os => os.map(o => o.value)")
        choices = [v for v in values[1:] if v]
        value = next((v for v in choices if keeps_rows is None or keeps_rows(f.param, v)), None)
        value = value or choices[0]
        locator.select_option(value)
        return value
    if f.kind == "number":
        value = NUMBER_VALUES.get(f.param, "1")
    elif f.kind == "date":
        value = (date.today() + timedelta(days=15)).isoformat()
    else:
        value = "Software"
    locator.fill(value)
    locator.dispatch_event("change")
    return value


@pytest.mark.parametrize("kind", ["lead", "deal", "person", "organization"])
def test_table_journey(kind, people, live_server_url, page):
    manager, rep = people
    rt = registry.get(kind)
    login(page, manager.username, PASSWORD)
    page.get_by_role("link", name=NAV[kind], exact=True).first.click()
    page.wait_for_selector(f'table[data-table="{kind}"]')
    _settle(page)
    assert _row_ids(page) == _api_ids(page, live_server_url, kind, "")[:50]
    assert page.locator("text=Some filters are not valid").count() == 0

    # Show every column through the column chooser, so that every sortable column is sorted.
    chooser = page.get_by_test_id("column-chooser")
    values = page.locator('.column-chooser input[name="columns"]').evaluate_all(
        "boxes => boxes.map(b => b.value)"
    )
    for value in values:
        box = page.locator(f"#col-{value}")
        if not box.is_visible():
            chooser.click()
        if not box.is_checked():
            box.check()
            _wait_param(page, "columns", value)
            _settle(page)
    page.keyboard.press("Escape")
    assert page.locator("#rows thead th").count() >= len(values)

    # Sort by every sortable column, both ways, by clicking its header.
    keys = page.locator("th[data-sort]").evaluate_all("hs => hs.map(h => h.dataset.sort)")
    assert keys, "no sortable header"
    for key in keys:
        for direction in ("ascending", "descending"):
            page.locator(f'th[data-sort="{key}"] a').click()
            page.wait_for_selector(f'th[data-sort="{key}"][aria-sort="{direction}"]')
            _assert_rows_match_api(page, live_server_url, kind)
            _assert_each_param_once(page)
            assert dict(_params(page))["ordering"] == (
                key if direction == "ascending" else f"-{key}"
            )
            assert page.locator("th[aria-sort]").count() == 1

    # Filter by each filter of the record type, one after the other, then clear it.
    more = page.locator('[data-testid="more-filters-toggle"]')
    if more.count() and not page.locator("#more-filters").is_visible():
        more.click()
    for f in rt.filters:
        value = _choose(page, f)
        _wait_param(page, f.param, value)
        _assert_rows_match_api(page, live_server_url, kind)
        _assert_each_param_once(page)
        locator = page.locator(f"#f-{f.param}")
        if f.kind in {"select", "user", "boolean"}:
            locator.select_option("")
        else:
            locator.fill("")
            locator.dispatch_event("change")
        _wait_param(page, f.param, present=False)
        _settle(page)

    # Search, then filter, then sort: every parameter once; save the view, reload, reopen.
    page.locator("#search").fill(SEARCH[kind])
    _wait_param(page, "search")
    first = rt.filters[0]

    def keeps_rows(param: str, value: str) -> bool:
        return bool(_api_ids(page, live_server_url, kind, f"{_table_query(page)}&{param}={value}"))

    _choose(page, first, keeps_rows)
    _wait_param(page, first.param)
    _settle(page)
    page.locator(f'th[data-sort="{keys[-1]}"] a').click()
    page.wait_for_selector(f'th[data-sort="{keys[-1]}"][aria-sort="ascending"]')
    _assert_rows_match_api(page, live_server_url, kind)
    _assert_each_param_once(page)
    rows, url = _row_ids(page), page.url

    page.locator('[data-testid="saved-views"]').click()
    page.locator('input[name="view_name"]').fill("My journey")
    page.locator('#save-view-form button[type="submit"]').click()
    page.wait_for_selector("text=View “My journey” saved.")
    page.reload()
    _settle(page)
    assert page.url == url and _row_ids(page) == rows

    page.get_by_role("link", name=NAV[kind], exact=True).first.click()
    page.wait_for_selector(f'table[data-table="{kind}"]')
    page.locator('[data-testid="saved-views"]').click()
    page.locator('[data-testid="saved-view-link"]', has_text="My journey").click()
    page.wait_for_selector(f'th[data-sort="{keys[-1]}"][aria-sort="ascending"]')
    _settle(page)
    assert _row_ids(page) == rows
    _assert_each_param_once(page)
    assert sorted(_params(page)) == sorted(parse_qsl(urlsplit(url).query))

    # CSV export of the filtered set: every row the filters keep, nothing else.
    expected = _api_ids(page, live_server_url, kind, _table_query(page))
    with page.expect_download() as download:
        page.locator("#export-link").click()
    with open(download.value.path(), encoding="utf-8") as exported_file:
        exported = [row["id"] for row in csv.DictReader(exported_file)]
    assert exported == expected and exported

    # A bulk action on the filtered rows, through the bar that appears once rows are checked.
    if kind in {"person", "organization"}:  # a manager deletes the records it owns
        page.locator("#f-owner").select_option(str(manager.pk))
        _wait_param(page, "owner", str(manager.pk))
        _settle(page)
        rows = _row_ids(page)
        assert rows
    page.locator("[data-bulk-select-all]").check()
    bar = page.locator("#bulk-form")
    expect(bar).to_be_visible()
    if kind in {"lead", "deal"}:
        bar.locator("#bulk-assignee").select_option(str(rep.pk))
        bar.locator('button[value="assign"]').click()
        expect(page.locator("#toasts")).to_contain_text(f"{len(rows)} assigned")
    else:
        page.once("dialog", lambda dialog: dialog.accept())
        bar.locator('button[value="delete"]').click()
        expect(page.locator("#toasts")).to_contain_text(f"{len(rows)} deleted")
        expect(page.locator("#rows")).to_contain_text(f"No {rt.noun_plural} match these filters")


# --- one journey per filter kind ----------------------------------------------------------------

# The kinds of filter input a record type's description may have (``crm.records.types.Filter``)
# and, last, a custom field's (``cf_<name>``, from ``customfields``).
KINDS = ("select", "multi", "user", "boolean", "number", "date", "text")
SELECTS = {"select", "multi", "user", "boolean"}


@dataclass(frozen=True)
class Probe:
    """One filter input to journey with: its kind, URL parameter, input and a value to set."""

    kind: str
    param: str
    input_id: str
    value: str
    is_select: bool
    more: bool


def _candidates(page, f) -> list[str]:
    """Values to try in filter ``f``: its options, or typed values that may keep rows."""
    if f.kind in SELECTS:
        return [
            v
            for v in page.locator(f"#f-{f.param} option").evaluate_all("os => os.map(o => o.value)")
            if v
        ]
    if f.kind == "number":
        return [NUMBER_VALUES.get(f.param, "1")]
    if f.kind == "date":
        today = date.today()
        return [(today + timedelta(days=d)).isoformat() for d in (15, -1, 60)]
    return [TEXT_VALUES.get(f.param, "Software")]


def _probes(page, base: str, kind: str) -> list[Probe]:
    """For each filter kind the record type has, the first filter and value that keep some
    rows (and, where one does, drop others), found through the API; then the custom field."""
    rt = registry.get(kind)
    total = len(_api_ids(page, base, kind, ""))

    def pick(filters) -> tuple | None:
        """The first filter and value that drop some rows (the saved view must keep them
        out), else the first that keeps any; None when none does."""
        fallback = None
        for f in filters:
            for value in _candidates(page, f):
                kept = len(_api_ids(page, base, kind, urlencode({f.param: value})))
                if 0 < kept < total:
                    return f, value
                if kept and fallback is None:
                    fallback = f, value
        return fallback

    probes = []
    for filter_kind in KINDS:
        found = pick(f for f in rt.filters if f.kind == filter_kind)
        if found:
            f, value = found
            probes.append(Probe(f.kind, f.param, f"f-{f.param}", value, f.kind in SELECTS, f.more))
    param = f"cf_{CUSTOM_FIELD}"
    probes.append(Probe("custom field", param, f"f-cf-{CUSTOM_FIELD}", TIERS[0], True, True))
    present = {f.kind for f in rt.filters}
    assert [p.kind for p in probes] == [k for k in KINDS if k in present] + ["custom field"]
    return probes


def _open_table(page, kind: str) -> None:
    page.locator("#main-nav").get_by_role("link", name=NAV[kind], exact=True).click()
    page.wait_for_selector(f'table[data-table="{kind}"]')
    _settle(page)


def _assert_clean(page) -> None:
    """Every parameter once, none empty, and no filter refused."""
    _assert_each_param_once(page)
    assert page.locator("text=not valid").count() == 0, page.url
    assert page.locator("text=could not be applied").count() == 0, page.url


@pytest.mark.parametrize("kind", ["lead", "deal", "person", "organization"])
def test_each_filter_kind_composes_with_a_sort_and_a_saved_view(
    kind, people, live_server_url, page
):
    """Per filter kind (select, user, boolean, number, date, text, custom field; those the
    type has): filter, sort by a header, save the view, reload, reopen it from the menu: the
    same rows, each URL parameter once, no "not valid"."""
    manager, _ = people
    login(page, manager.username, PASSWORD)
    _open_table(page, kind)
    probes = _probes(page, live_server_url, kind)
    keys = page.locator("th[data-sort]").evaluate_all("hs => hs.map(h => h.dataset.sort)")

    for n, probe in enumerate(probes):
        _open_table(page, kind)
        field = page.locator(f"#{probe.input_id}")
        if probe.more and not field.is_visible():
            page.get_by_test_id("more-filters-toggle").click()
        if probe.is_select:
            field.select_option(probe.value)
        else:
            field.fill(probe.value)
            field.dispatch_event("change")
        _wait_param(page, probe.param, probe.value)
        _settle(page)
        assert _row_ids(page), f"{probe.kind}: {page.url}"

        # Sort by a header (a different one per kind), as a click toggles it.
        key = keys[n % len(keys)]
        header = page.locator(f'th[data-sort="{key}"]')
        was = header.get_attribute("aria-sort")
        direction = "descending" if was == "ascending" else "ascending"
        header.locator("a").click()
        page.wait_for_selector(f'th[data-sort="{key}"][aria-sort="{direction}"]')
        _assert_rows_match_api(page, live_server_url, kind)
        params = dict(_params(page))
        assert params[probe.param] == probe.value
        assert params["ordering"] == (key if direction == "ascending" else f"-{key}")
        _assert_clean(page)
        rows, url = _row_ids(page), page.url

        name = f"By {probe.kind}"
        page.get_by_test_id("saved-views").click()
        page.locator('input[name="view_name"]').fill(name)
        page.locator('#save-view-form button[type="submit"]').click()
        page.wait_for_selector(f"text=View “{name}” saved.")
        assert page.url == url

        page.reload()
        _settle(page)
        assert page.url == url and _row_ids(page) == rows, probe.kind
        _assert_clean(page)

        _open_table(page, kind)
        page.get_by_test_id("saved-views").click()
        page.get_by_test_id("saved-view-link").filter(has_text=name).click()
        page.wait_for_selector(f'th[data-sort="{key}"][aria-sort="{direction}"]')
        _settle(page)
        assert _row_ids(page) == rows, probe.kind
        assert sorted(_params(page)) == sorted(parse_qsl(urlsplit(url).query)), probe.kind
        _assert_clean(page)
