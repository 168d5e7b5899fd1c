"""A crawl of every page reachable from the navigation and the user menu (issue 13), for each of
the five roles, at desktop (1440 px) and phone (390 px) width.

On every page: no console error (htmx reports its error events there too, e.g.
``htmx:oobErrorNoTarget``), no failed request and no 5xx (a deliberate 4xx, e.g. a refused
action, is not made by merely opening pages, so any 4xx fails too), and at 390 px the page
itself never scrolls sideways (``document.documentElement.scrollWidth <= innerWidth``; wide
tables and boards scroll inside their own containers). From each table the first record's
detail page is opened as well, so detail layouts are crawled too, and the boards of leads and
deals through the tables' Table | Board switch.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from crm import permissions
from crm.roles import Role
from tests.e2e.helpers import in_thread, login
from tests.factories import PASSWORD, OrganizationFactory, PersonFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROLES = {
    "admin": Role.ADMIN,
    "manager": Role.MANAGER,
    "rep": Role.SALES_REP,
    "analyst": Role.ANALYST,
    "viewer": Role.VIEWER,
}
WIDTHS = (1440, 390)
# Third-party pages the crawl does not judge (Django's admin and the Swagger UI).
SKIPPED_PREFIXES = ("/admin/", "/api/")


def _records(users: dict) -> None:
    from deals.services import deal_create
    from tests.leads.factories import LeadFactory

    rep, viewer = users["rep"], users["viewer"]
    org = OrganizationFactory(owner=rep, name="Crawl Org", domain="crawl.example")
    person = PersonFactory(owner=rep, first_name="Cora", last_name="Crawl", organization=org)
    lead = LeadFactory(
        owner=rep,
        name="Crawl lead with a rather long name to test the layout",
        company_name="Crawl Org",
        contact_email="cora@crawl.example",
        person=person,
        organization=org,
    )
    deal = deal_create(by=rep, name="Crawl deal", amount=12500, organization=org, person=person)
    for obj in (org, person, lead, deal):
        permissions.share(viewer, obj)


@pytest.fixture
def users(db):
    made = {
        name: UserFactory(username=f"crawl-{name}", role=role, is_staff=name in {"admin"})
        for name, role in ROLES.items()
    }
    made["admin"].is_superuser = True
    made["admin"].save(update_fields=["is_superuser"])
    in_thread(_records, made)
    return made


def _menu_links(page) -> list[str]:
    hrefs = page.locator("#main-nav a[href]").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))"
    )
    paths = []
    for href in hrefs:
        path = urlsplit(href).path
        if href.startswith("/") and path not in paths and not path.startswith(SKIPPED_PREFIXES):
            paths.append(path)
    return paths


def _watch(page, width: int, problems: list[str]) -> dict:
    """Record every console error, page error, failed request and 4xx/5xx of ``page``."""
    where = {"url": ""}

    def note(text: str) -> None:
        problems.append(f"{width}px {where['url']}: {text}")

    page.on("console", lambda m: note(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: note(f"page error: {e}"))
    page.on("requestfailed", lambda r: note(f"failed {r.method} {r.url}"))
    page.on("response", lambda r: note(f"{r.status} {r.url}") if r.status >= 400 else None)
    return where


def _crawl(page, base: str, width: int, problems: list[str]) -> set[str]:
    # The page sign-in landed on loads its bell count and activity badge after its load event;
    # going to the first link at once would cancel them (a "failed" request that no user can
    # cause). It is crawled through its own menu link like every other page.
    page.wait_for_load_state("networkidle")
    where = _watch(page, width, problems)
    queue, seen = _menu_links(page), set()
    while queue:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        where["url"] = path
        page.goto(f"{base}{path}")
        page.wait_for_load_state("networkidle")
        scroll_width, inner_width = page.evaluate(
            "[document.documentElement.scrollWidth, window.innerWidth]"
        )
        if scroll_width > inner_width:
            problems.append(f"{width}px {path}: the page is {scroll_width} px wide")
        # One record of each table, so every detail layout is crawled too.
        record = page.locator("table[data-table] tbody a.record-link").first
        if record.count():
            queue.append(urlsplit(record.get_attribute("href")).path)
        # The boards are reached through the table's Table | Board switch.
        board = page.get_by_test_id("board-view")
        if board.count():
            queue.append(urlsplit(board.get_attribute("href")).path)
    return seen


@pytest.mark.parametrize("role", list(ROLES))
def test_every_page_opens_cleanly_at_both_widths(role, users, live_server_url, new_context):
    problems: list[str] = []
    for width in WIDTHS:
        page = new_context(viewport={"width": width, "height": 900}).new_page()
        login(page, users[role].username, PASSWORD)
        seen = _crawl(page, live_server_url, width, problems)
        tables = {"/leads/", "/deals/", "/people/", "/organizations/"}
        assert tables <= seen, seen
        assert {"/leads/board/", "/deals/board/"} <= seen, seen
        details = [
            p
            for p in seen
            if p.count("/") == 3
            and p.split("/")[1] in {"leads", "deals", "people", "organizations"}
            and len(p) > 30
        ]
        assert len(details) == 4, seen  # every role sees one record of each type
    assert not problems, "\n".join(problems)
