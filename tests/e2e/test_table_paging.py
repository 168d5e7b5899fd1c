"""The table's pages when the count is an estimate (issue 17): a person pages through a list
larger than ``EXACT_COUNT_LIMIT`` with Next and the page numbers, and the footer says how many
there are as honestly as it knows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from crm.roles import Role
from tests.e2e.helpers import login
from tests.factories import PASSWORD, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def manager_with_leads(settings):
    from tests.leads.factories import LeadFactory

    settings.EXACT_COUNT_LIMIT = 5
    manager = UserFactory(username="pager", role=Role.MANAGER)
    for n in range(12):
        LeadFactory(owner=manager, name=f"Paged lead {n:02d}")
    return manager


def _row_ids(page) -> list[str]:
    return page.locator("#rows tr[data-id]").evaluate_all("rs => rs.map(r => r.dataset.id)")


def test_paging_through_an_estimated_count(manager_with_leads, page):
    login(page, manager_with_leads.username, PASSWORD)
    page.goto("/leads/?page_size=5")
    count = page.get_by_test_id("row-count")
    expect(count).to_have_text(re.compile(r"^1–5 of (5\+|about [\d,]+) leads$"))
    pages = page.get_by_role("navigation", name="Pages")
    expect(pages.get_by_role("link", name="Page 3")).to_have_count(0)  # not known to exist yet
    first = _row_ids(page)
    assert len(first) == 5

    pages.get_by_role("link", name="Next").click()
    expect(count).to_have_text(re.compile(r"^6–10 of (10\+|about [\d,]+) leads$"))
    assert "page=2" in page.url
    second = _row_ids(page)
    assert len(second) == 5 and not set(first) & set(second)

    pages.get_by_role("link", name="Page 3").click()
    expect(count).to_have_text("11–12 of 12")  # the last page: rows before it and its own
    expect(pages.get_by_text("3 / 3")).to_be_visible()
    expect(pages.get_by_role("link", name="Next")).to_have_count(0)
    third = _row_ids(page)
    assert len(third) == 2 and len(set(first + second + third)) == 12

    pages.get_by_role("link", name="Previous").click()
    expect(count).to_have_text(re.compile(r"^6–10 of "))
    assert _row_ids(page) == second


@pytest.mark.parametrize("width", [1440, 390])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_footer_with_an_estimated_count_screenshots(manager_with_leads, new_context, width, scheme):
    page = new_context(viewport={"width": width, "height": 900}, color_scheme=scheme).new_page()
    login(page, manager_with_leads.username, PASSWORD)
    page.goto("/leads/?page_size=5&page=2")
    footer = page.locator(".table-footer")
    expect(footer).to_be_visible()
    box = footer.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= width  # no sideways overflow
    ARTIFACTS.mkdir(exist_ok=True)
    footer.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / f"table-footer-estimate-{width}-{scheme}.png"))
    footer.screenshot(path=str(ARTIFACTS / f"table-footer-estimate-{width}-{scheme}-crop.png"))
