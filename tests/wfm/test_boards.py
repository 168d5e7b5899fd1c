"""The generic kanban board (wfm.boards), exercised over deals as a concrete record type."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from deals import selectors
from deals import services as deal_services
from tests.deals.factories import ALL_STEPS, make_deal, pipeline_step
from tests.wfm.factories import build_workflow
from wfm import boards
from wfm.defaults import DealStep
from wfm.models import Project


@pytest.fixture
def workflow(db):
    return selectors.default_workflow()


@pytest.fixture
def steps(db):
    return {name: pipeline_step(name) for name in ALL_STEPS}


def board_for(user, workflow, **kwargs):
    return boards.build_board(workflow=workflow, queryset=selectors.deal_list(user=user), **kwargs)


def test_one_column_per_step_in_order_with_counts_and_totals(rep1, workflow):
    make_deal(rep1, amount=100)
    make_deal(rep1, amount=250, step=DealStep.PROPOSAL)
    make_deal(rep1, amount=50, step=DealStep.PROPOSAL)

    columns = board_for(rep1, workflow, value_field="amount", weighted=True)

    assert [c.step.name for c in columns] == [
        DealStep.QUALIFICATION,
        DealStep.INITIAL_CONTACT,
        DealStep.DISCOVERY,
        DealStep.PROPOSAL,
        DealStep.NEGOTIATION,
        DealStep.CLOSED_WON,
        DealStep.CLOSED_LOST,
    ]
    by_name = {c.step.name: c for c in columns}
    proposal = by_name[DealStep.PROPOSAL]
    assert (proposal.count, proposal.total, proposal.weighted_total) == (
        2,
        Decimal("300"),
        Decimal("150.00"),
    )
    assert by_name[DealStep.QUALIFICATION].weighted_total == Decimal("10.00")
    empty = by_name[DealStep.NEGOTIATION]
    assert (empty.count, empty.total, empty.weighted_total, empty.cards) == (
        0,
        Decimal("0"),
        Decimal("0.00"),
        [],
    )


def test_counts_only_without_a_value_field(rep1, workflow):
    make_deal(rep1)
    (first, *_) = board_for(rep1, workflow)
    assert (first.count, first.total, first.weighted_total) == (1, None, None)


def test_only_records_the_user_may_see(rep1, rep2, workflow):
    make_deal(rep1, name="Mine")
    make_deal(rep2, name="Theirs")
    (first, *_) = board_for(rep1, workflow)
    assert [c.name for c in first.cards] == ["Mine"] and first.count == 1


def test_each_column_holds_its_first_cards_in_order(rep1, workflow):
    for n in range(5):
        make_deal(rep1, name=f"Deal {n}")
    (first, *_) = board_for(rep1, workflow, per_column=3, order_by=("name",))
    assert [c.name for c in first.cards] == ["Deal 0", "Deal 1", "Deal 2"]
    assert first.count == 5 and first.has_more and first.loaded == 3


def test_column_page_loads_the_rest_without_gaps(rep1, workflow):
    for n in range(7):
        make_deal(rep1, name=f"Deal {n}")
    (first, *_) = board_for(rep1, workflow, per_column=3, order_by=("-name",))
    seen = [c.name for c in first.cards]
    offset = first.loaded
    while True:
        page = boards.column_page(
            step=first.step,
            queryset=selectors.deal_list(user=rep1),
            offset=offset,
            limit=3,
            order_by=("-name",),
        )
        seen += [c.name for c in page.cards]
        if not page.has_more:
            break
        offset = page.next_offset
    assert seen == [f"Deal {n}" for n in range(6, -1, -1)]


def test_column_page_after_a_cursor_neither_skips_nor_repeats_when_cards_move(
    rep1, workflow, steps
):
    """Pages follow the last card shown, not an offset: cards moved out of (or into) the
    column since the first page shift no later card."""
    for n in range(7):
        make_deal(rep1, name=f"Deal {n}")
    (first, *_) = board_for(rep1, workflow, per_column=3, order_by=("-name",))
    assert [c.name for c in first.cards] == ["Deal 6", "Deal 5", "Deal 4"]
    for deal in first.cards[:2]:  # two of the shown cards leave the column meanwhile
        deal_services.deal_transition(by=rep1, deal=deal, to_step=steps[DealStep.INITIAL_CONTACT])
    seen, after = [], first.cards[-1].pk
    while True:
        page = boards.column_page(
            step=first.step,
            queryset=selectors.deal_list(user=rep1),
            after=after,
            limit=3,
            order_by=("-name",),
        )
        seen += [c.name for c in page.cards]
        if not page.has_more:
            break
        after = page.last_pk
    assert seen == ["Deal 3", "Deal 2", "Deal 1", "Deal 0"]


def test_column_page_after_an_unknown_cursor_starts_over(rep1, workflow):
    make_deal(rep1, name="Only")
    (first, *_) = board_for(rep1, workflow)
    page = boards.column_page(
        step=first.step, queryset=selectors.deal_list(user=rep1), after="not-a-uuid"
    )
    assert [c.name for c in page.cards] == ["Only"]


def test_annotations_are_read_with_the_cards(rep1, workflow):
    make_deal(rep1, name="Annotated", amount=1234)
    (first, *_) = board_for(rep1, workflow, annotations={"board_amount": F("amount")})
    assert first.cards[0].board_amount == Decimal("1234")


def test_records_of_another_workflow_stay_off_the_board(rep1, workflow):
    other, steps = build_workflow(["Open", "Done"], [("Open", "Done")])
    deal = make_deal(rep1, name="Elsewhere")
    Project.objects.filter(pk=deal.wfm_project_id).update(
        workflow=other, current_step=steps["Open"]
    )
    make_deal(rep1, name="Here")
    columns = board_for(rep1, workflow)
    assert [c.name for col in columns for c in col.cards] == ["Here"]
    other_columns = board_for(rep1, other)
    assert [c.step.name for c in other_columns] == ["Open", "Done"]
    assert [c.name for c in other_columns[0].cards] == ["Elsewhere"]


def test_days_in_step_counts_from_the_last_move(rep1, workflow):
    deal = make_deal(rep1, step=DealStep.DISCOVERY)
    Project.objects.filter(pk=deal.wfm_project_id).update(
        updated_at=timezone.now() - timedelta(days=4, hours=2)
    )
    discovery = next(c for c in board_for(rep1, workflow) if c.step.name == DealStep.DISCOVERY)
    (card,) = discovery.cards
    assert card.days_in_step == 4


def test_a_move_resets_days_in_step(rep1, workflow, steps):
    from deals import services

    deal = make_deal(rep1)
    Project.objects.filter(pk=deal.wfm_project_id).update(
        updated_at=timezone.now() - timedelta(days=9)
    )
    services.deal_transition(by=rep1, deal=deal, to_step=steps[DealStep.INITIAL_CONTACT])
    column = next(c for c in board_for(rep1, workflow) if c.step.name == DealStep.INITIAL_CONTACT)
    assert column.cards[0].days_in_step == 0


def test_extra_sums_per_column(rep1, workflow):
    make_deal(rep1, amount=10)
    make_deal(rep1, amount=2000)
    (first, *_) = board_for(
        rep1,
        workflow,
        extra_sums={
            "big": Count("pk", filter=Q(amount__gte=1000)),
            "amount_sum": Sum("amount"),
        },
    )
    assert first.extra == {"big": 1, "amount_sum": Decimal("2010")}


def test_column_summaries_refresh_some_headers(rep1, workflow, steps):
    make_deal(rep1, amount=5)
    heads = boards.column_summaries(
        steps=[steps[DealStep.QUALIFICATION], steps[DealStep.CLOSED_WON]],
        queryset=selectors.deal_list(user=rep1),
        value_field="amount",
        weighted=True,
    )
    assert [(h.step.name, h.count, h.total) for h in heads] == [
        (DealStep.QUALIFICATION, 1, Decimal("5")),
        (DealStep.CLOSED_WON, 0, Decimal("0")),
    ]


def test_stamp_cards_reads_the_project_when_not_annotated(rep1):
    deal = selectors.deal_get(user=rep1, deal_id=make_deal(rep1).pk)
    boards.stamp_cards([deal])
    assert deal.step_entered_at == deal.wfm_project.updated_at and deal.days_in_step == 0


@pytest.mark.parametrize("size", [3, 40])
def test_board_costs_three_queries_whatever_the_number_of_cards(
    rep1, workflow, size, django_assert_num_queries
):
    for n in range(size):
        make_deal(rep1, step=[DealStep.QUALIFICATION, DealStep.DISCOVERY][n % 2])
    queryset = selectors.deal_list(user=rep1)
    rep1.has_perm("deals.view_all_deals")  # the permission cache is the request's, not ours

    with django_assert_num_queries(3):  # steps, totals, cards of every column
        columns = boards.build_board(
            workflow=workflow, queryset=queryset, value_field="amount", weighted=True
        )
        for column in columns:
            for card in column.cards:
                assert card.organization is None or card.organization.name
                assert card.assigned_to is None or card.assigned_to.display_name
                assert card.wfm_project.current_step.status.name
    assert sum(c.count for c in columns) == size
    assert sum(c.loaded for c in columns) == min(size, 20 + 20)
