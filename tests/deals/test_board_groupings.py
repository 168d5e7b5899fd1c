"""The deal board's "Columns by" switch (``deals.records.GROUPINGS`` through the shared
``crm.records.groupings``): columns by assignee, close month and status, with their counts and
totals, over what the user may see and the board's filters, in a constant number of queries."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest

from crm import permissions
from crm.records.groupings import group_board
from crm.roles import Role
from deals import selectors
from deals.records import GROUPINGS
from tests.deals.factories import make_deal
from tests.factories import UserFactory
from wfm.defaults import DealStep


def columns(user, grouping: str) -> list[tuple[str, int, Decimal, list[str]]]:
    """(label, count, total, card names) of each column of ``grouping`` as ``user`` sees it."""
    queryset = selectors.deal_list(user=user)
    groups = group_board(queryset=queryset, grouping=GROUPINGS[grouping], value_field="amount")
    return [(g.label, g.count, g.total, [c.name for c in g.cards]) for g in groups]


def test_status_columns_are_open_won_lost_with_their_counts_and_totals(manager, rep1):
    make_deal(rep1, name="Early", amount=100, step=DealStep.DISCOVERY)
    make_deal(rep1, name="Late", amount=250, step=DealStep.NEGOTIATION)
    make_deal(rep1, name="Signed", amount=1000, step=DealStep.CLOSED_WON)
    assert columns(manager, "status") == [
        ("Open", 2, Decimal(350), ["Late", "Early"]),
        ("Won", 1, Decimal(1000), ["Signed"]),
        ("Lost", 0, Decimal(0), []),  # shown empty: the three outcomes are always there
    ]


def test_close_month_columns_run_by_month_with_undated_deals_last(manager, rep1):
    make_deal(rep1, name="Mid May", amount=20, expected_close_date=date(2031, 5, 15))
    make_deal(rep1, name="Undated", amount=5)
    make_deal(rep1, name="Late March", amount=30, expected_close_date=date(2031, 3, 31))
    make_deal(rep1, name="Early May", amount=40, expected_close_date=date(2031, 5, 2))
    make_deal(rep1, name="Early March", amount=50, expected_close_date=date(2031, 3, 1))
    assert columns(manager, "close_month") == [
        ("March 2031", 2, Decimal(80), ["Early March", "Late March"]),
        ("May 2031", 2, Decimal(60), ["Early May", "Mid May"]),  # by close date within
        ("No close date", 1, Decimal(5), ["Undated"]),
    ]


def test_assignee_columns_list_unassigned_first_then_holders_by_name(manager, rep1):
    zoe = UserFactory(username="zoe", first_name="Zoe", last_name="Zimmer", role=Role.SALES_REP)
    adam = UserFactory(username="adam", first_name="Adam", last_name="Abbot", role=Role.SALES_REP)
    # A user who holds no deal gets no column.
    UserFactory(username="idle", first_name="Idle", last_name="User", role=Role.SALES_REP)
    make_deal(manager, name="Z1", amount=10, assigned_to=zoe)
    make_deal(manager, name="Z2", amount=15, assigned_to=zoe)
    make_deal(manager, name="A1", amount=7, assigned_to=adam)
    make_deal(manager, name="Nobody's", amount=1)
    assert columns(manager, "assignee") == [
        ("Unassigned", 1, Decimal(1), ["Nobody's"]),
        ("Adam Abbot", 1, Decimal(7), ["A1"]),
        ("Zoe Zimmer", 2, Decimal(25), ["Z2", "Z1"]),
    ]


def test_columns_hold_only_the_deals_the_user_may_see(rep1, rep2):
    make_deal(rep1, name="Mine", amount=100)
    make_deal(rep2, name="Theirs", amount=900)
    shared = make_deal(rep2, name="Shared", amount=40)
    permissions.share(rep1, shared)
    assert columns(rep1, "status")[0] == ("Open", 2, Decimal(140), ["Shared", "Mine"])


def test_a_column_shows_its_first_twenty_cards_and_counts_them_all(manager, rep1):
    for n in range(23):
        make_deal(rep1, name=f"Deal {n:02}", amount=10, expected_close_date=date(2031, 1, 1 + n))
    ((label, count, total, cards),) = columns(manager, "close_month")
    assert (label, count, total) == ("January 2031", 23, Decimal(230))
    assert cards == [f"Deal {n:02}" for n in range(20)]


def _board(client, query: str) -> str:
    response = client.get(f"/deals/board/?{query}")
    assert response.status_code == 200
    return response.content.decode()


def _heads(html: str) -> list[tuple[str, str, str]]:
    """(label, count, total) of each column of a grouped board page."""
    return re.findall(
        r'<section class="board-column" aria-label="([^"]+)">.*?data-column-count[^>]*>(\d+)<'
        r".*?data-column-total[^>]*>([^<]+)<",
        html,
        re.S,
    )


def test_the_board_page_groups_by_the_switch_and_keeps_the_filters(web, manager, rep1):
    make_deal(rep1, name="Open one", amount=1200, step=DealStep.PROPOSAL)
    make_deal(rep1, name="Won one", amount=800, step=DealStep.CLOSED_WON, assigned_to=rep1)
    client = web(manager)
    html = _board(client, "group=status")
    assert 'data-testid="grouped-board"' in html and "data-step-id" not in html
    assert _heads(html) == [("Open", "1", "€1,200"), ("Won", "1", "€800"), ("Lost", "0", "€0")]
    assert "data-move-url" not in html  # read-only: moves happen on the step board
    for key, label in (("assignee", "Assignee"), ("close_month", "Close month")):
        assert f'<option value="{key}">{label} (read-only)</option>' in html
    assert '<option value="status" selected>Status (read-only)</option>' in html

    filtered = _board(client, "group=assignee&outcome=won")
    assert _heads(filtered) == [(rep1.display_name, "1", "€800")]


def test_an_unknown_grouping_is_the_step_board(web, manager, rep1):
    make_deal(rep1, name="Somewhere")
    html = _board(web(manager), "group=organization")
    assert "data-step-id" in html and 'data-testid="grouped-board"' not in html


@pytest.mark.parametrize("grouping", ["assignee", "close_month", "status"])
def test_grouped_board_queries_do_not_grow_with_the_cards(
    web, manager, rep1, rep2, grouping, django_assert_max_num_queries
):
    """Two sizes, one bound: a ``GROUP BY`` and one windowed query for the cards, whatever
    the number of deals, assignees and months (labels are read off the cards)."""
    client = web(manager)
    for size in (3, 30):
        for n in range(size - (0 if size == 3 else 3)):
            make_deal(
                rep1 if n % 2 else rep2,
                name=f"Deal {size}-{n}",
                assigned_to=rep1 if n % 3 else None,
                expected_close_date=date(2031, 1 + n % 12, 1) if n % 4 else None,
                step=DealStep.CLOSED_WON if n % 5 == 0 else None,
            )
        with django_assert_max_num_queries(9):
            html = _board(client, f"group={grouping}")
        heads = _heads(html)
        assert sum(int(count) for _, count, _ in heads) == size
        assert html.count("data-deal-id") == sum(min(int(count), 20) for _, count, _ in heads)
