"""``/ws/boards/<workflow>/``: live cards on the kanban boards, only for users who may see them."""

from __future__ import annotations

import pytest

from leads import services
from tests.leads.factories import LeadFactory
from tests.realtime.conftest import db, nothing, receive_until, run
from wfm.defaults import LeadStep
from wfm.models import WorkflowStep


@pytest.fixture
def steps(rt):
    return {
        s.name: s
        for s in WorkflowStep.objects.select_related("status", "workflow").filter(
            workflow__name="Lead Qualification"
        )
    }


@pytest.fixture
def board(steps):
    return f"/ws/boards/{steps[LeadStep.NEW_LEAD].workflow_id}/"


def card_of(lead):
    return lambda html: f'id="card-{lead.pk}"' in html


# --- handshake ---------------------------------------------------------------------------------
def test_anonymous_is_refused(rt, board):
    async def scenario():
        _, accepted, code = await rt.open(board, None)
        assert not accepted and code == 4401

    run(scenario, rt)


def test_foreign_origin_is_refused(rt, board, rep1):
    async def scenario():
        _, accepted, _ = await rt.open(board, rep1, origin="https://evil.example.com")
        assert not accepted

    run(scenario, rt)


def test_unknown_workflow_is_refused(rt, rep1):
    async def scenario():
        _, accepted, code = await rt.open("/ws/boards/999999/", rep1)
        assert not accepted and code == 4403

    run(scenario, rt)


# --- delivery ----------------------------------------------------------------------------------
def test_move_reaches_the_owner_board_with_card_in_new_column_and_headers(
    rt, board, rep1, manager, steps
):
    lead = LeadFactory(owner=rep1, name="Moving Co")
    contacted = steps[LeadStep.CONTACTED]

    async def scenario():
        socket = await rt.connect(board, rep1)
        await db(services.lead_transition)(by=manager, lead=lead, to_step=contacted)
        html = await receive_until(socket, card_of(lead))
        assert f"afterbegin:[data-step-id=&quot;{contacted.pk}&quot;]" in html or (
            f'[data-step-id="{contacted.pk}"]' in html
        )
        assert "data-realtime-upsert" in html and "Moving Co" in html
        # The column headers follow the card (their counts cost a query the card need not
        # wait for).
        assert "board-head-" not in html
        heads = await receive_until(socket, lambda h: "board-head-" in h)
        assert f'id="board-head-{steps[LeadStep.NEW_LEAD].pk}"' in heads
        assert f'id="board-head-{contacted.pk}"' in heads
        assert 'hx-swap-oob="true"' in heads

    run(scenario, rt)


def test_pushed_heads_of_a_tallied_board_count_the_move(rt, board, rep1, manager, steps):
    """A tallied board's heads are read from the tallies, which the event moved before it
    was published: the column the card entered counts it."""
    from crm.records import registry, tallies

    lead = LeadFactory(owner=rep1, name="Counted Co", estimated_value=321)
    LeadFactory(owner=rep1, estimated_value=5)
    tallies.rebuild(registry.get("lead"))
    contacted = steps[LeadStep.CONTACTED]

    async def scenario():
        socket = await rt.connect(board, rep1)
        await db(services.lead_transition)(by=manager, lead=lead, to_step=contacted)
        heads = await receive_until(socket, lambda h: f"board-head-{contacted.pk}" in h)
        head = heads[heads.index(f'id="board-head-{contacted.pk}"') :].split("</header>")[0]
        assert 'title="Records in this step">1<' in head and "€321" in head

    run(scenario, rt)


def test_other_rep_receives_nothing_when_a_private_lead_changes(rt, board, rep1, rep2, steps):
    lead = LeadFactory(owner=rep1, name="Private Deal Inc")

    async def scenario():
        theirs = await rt.connect(board, rep2)
        mine = await rt.connect(board, rep1)
        await db(services.lead_update)(by=rep1, lead=lead, data={"name": "Private Deal GmbH"})
        await db(services.lead_transition)(by=rep1, lead=lead, to_step=steps[LeadStep.CONTACTED])
        await receive_until(mine, lambda h: "Private Deal GmbH" in h)
        assert await nothing(theirs, timeout=0.8)

    run(scenario, rt)


def test_manager_board_gets_every_change(rt, board, rep1, manager):
    lead = LeadFactory(owner=rep1)

    async def scenario():
        socket = await rt.connect(board, manager)
        await db(services.lead_update)(by=rep1, lead=lead, data={"name": "Renamed by rep"})
        html = await receive_until(socket, card_of(lead))
        assert "Renamed by rep" in html
        # Managers may move every card: the live card is draggable for them.
        assert "data-move-url" in html

    run(scenario, rt)


def test_reassigned_away_card_is_removed_and_no_further_updates_follow(
    rt, board, rep1, rep2, manager, steps
):
    lead = LeadFactory(owner=manager, assigned_to=rep1, name="Hand-over Ltd")

    async def scenario():
        socket = await rt.connect(board, rep1)
        await db(services.lead_assign)(by=manager, lead=lead, assignee=rep2)
        html = await receive_until(socket, card_of(lead))
        assert f'<div id="card-{lead.pk}" hx-swap-oob="delete"' in html
        assert "Hand-over Ltd" not in html  # a removal carries no field values
        heads = await receive_until(socket, lambda h: "board-head-" in h)  # its column's count
        assert "Hand-over Ltd" not in heads
        # Subsequent changes: rep1's re-read fails the visibility check, nothing is sent.
        await db(services.lead_update)(by=manager, lead=lead, data={"name": "Secret Rename"})
        await db(services.lead_transition)(by=manager, lead=lead, to_step=steps[LeadStep.CONTACTED])
        assert await nothing(socket, timeout=0.8)

    run(scenario, rt)


def test_new_assignee_board_gets_the_card(rt, board, rep1, rep2, manager):
    lead = LeadFactory(owner=manager, assigned_to=rep1, name="Incoming")

    async def scenario():
        socket = await rt.connect(board, rep2)
        await db(services.lead_assign)(by=manager, lead=lead, assignee=rep2)
        html = await receive_until(socket, card_of(lead))
        assert "data-realtime-upsert" in html and "Incoming" in html

    run(scenario, rt)


def test_created_lead_appears_on_the_owner_board_only(rt, board, rep1, rep2):
    async def scenario():
        mine = await rt.connect(board, rep1)
        theirs = await rt.connect(board, rep2)
        lead = await db(services.lead_create)(by=rep1, name="Fresh Lead", source="web")
        html = await receive_until(mine, card_of(lead))
        assert "Fresh Lead" in html and "data-realtime-upsert" in html
        assert await nothing(theirs)

    run(scenario, rt)


def test_deleted_lead_is_removed_from_boards_of_those_who_saw_it(rt, board, rep1, rep2):
    lead = LeadFactory(owner=rep1)

    async def scenario():
        mine = await rt.connect(board, rep1)
        theirs = await rt.connect(board, rep2)
        await db(services.lead_delete)(by=rep1, lead=lead)
        html = await receive_until(mine, card_of(lead))
        assert 'hx-swap-oob="delete"' in html
        assert await nothing(theirs)

    run(scenario, rt)


def test_board_filters_apply_to_live_cards(rt, steps, rep1, manager):
    lead = LeadFactory(owner=manager, assigned_to=rep1, name="Filtered")
    workflow_id = steps[LeadStep.NEW_LEAD].workflow_id

    async def scenario():
        socket = await rt.connect(f"/ws/boards/{workflow_id}/?assigned_to={rep1.pk}", manager)
        await db(services.lead_assign)(by=manager, lead=lead, assignee=manager)
        html = await receive_until(socket, card_of(lead))
        # Still visible to the manager, but no longer on a board filtered to rep1's leads.
        assert 'hx-swap-oob="delete"' in html and "Filtered" not in html

    run(scenario, rt)


def test_score_change_updates_the_card_badge(rt, board, rep1):
    lead = LeadFactory(owner=rep1, lead_score=10)

    async def scenario():
        from crm.realtime import publish_change

        socket = await rt.connect(board, rep1)

        def rescore():
            from leads.models import Lead

            Lead.objects.filter(pk=lead.pk).update(lead_score=88)
            publish_change("lead", lead.pk, ["score"], lead.wfm_project.workflow_id)

        await db(rescore)()
        html = await receive_until(socket, card_of(lead))
        assert 'data-score="88"' in html

    run(scenario, rt)
