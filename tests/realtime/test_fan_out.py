"""One change, many sockets: what is shared between the connections of a process (the record's
re-read, one permission query for every listener, one card per variant) and what is still
decided for each of them (who may see it, who may move it)."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db.backends import utils as db_utils

from crm import permissions
from crm.roles import Role
from leads import services
from tests.factories import UserFactory
from tests.leads.factories import LeadFactory
from tests.realtime.conftest import db, nothing, receive_until, run
from wfm.defaults import LeadStep
from wfm.models import WorkflowStep


@pytest.fixture
def steps(rt):
    return {
        s.name: s
        for s in WorkflowStep.objects.select_related("status").filter(
            workflow__name="Lead Qualification"
        )
    }


@pytest.fixture
def queries(monkeypatch):
    """Queries made by the realtime threads (the consumers' renderings), whatever the thread's
    database connection: ``queries["render"]`` and ``queries["follow-up"]``."""
    counted: Counter = Counter()
    execute = db_utils.CursorWrapper.execute

    def counting(self, sql, params=None):
        name = threading.current_thread().name
        if name.startswith("realtime-render"):
            counted["render"] += 1
        elif name.startswith("realtime-follow-up"):
            counted["follow-up"] += 1
        return execute(self, sql, params)

    monkeypatch.setattr(db_utils.CursorWrapper, "execute", counting)
    return counted


def card_of(lead):
    return lambda html: f'id="card-{lead.pk}"' in html


async def drain(sockets) -> None:
    for socket in sockets:
        while not await nothing(socket, timeout=0.3):
            await socket.receive_from()


def move_queries(rt, queries, steps, sockets_count: int) -> tuple[int, int, list[str]]:
    """Open ``sockets_count`` board sockets of Sales Reps who see one lead through a share,
    move it twice (the first warms the connections up) and count the second move's queries:
    (render threads, follow-up threads, the cards received)."""
    owner = UserFactory(role=Role.MANAGER)
    lead = LeadFactory(owner=owner, name="Fan-out Lead")
    reps = [UserFactory(role=Role.SALES_REP) for _ in range(sockets_count)]
    for rep in reps:
        permissions.share(rep, lead)
    board = f"/ws/boards/{lead.wfm_project.workflow_id}/"
    result = {}

    async def scenario():
        sockets = [await rt.connect(board, rep) for rep in reps]
        await db(services.lead_transition)(by=owner, lead=lead, to_step=steps[LeadStep.CONTACTED])
        for socket in sockets:
            await receive_until(socket, card_of(lead))
        await drain(sockets)
        queries.clear()
        await db(services.lead_transition)(by=owner, lead=lead, to_step=steps[LeadStep.NEW_LEAD])
        result["cards"] = [await receive_until(s, card_of(lead)) for s in sockets]
        result["render"] = queries["render"]
        for socket in sockets:  # the column headers follow each card
            await receive_until(socket, lambda h: "board-head-" in h)
        await drain(sockets)
        result["follow-up"] = queries["follow-up"]

    run(scenario, rt)
    return result["render"], result["follow-up"], result["cards"]


def test_many_reps_with_a_share_get_the_card_for_a_constant_number_of_queries(rt, steps, queries):
    few_render, few_follow_up, few_cards = move_queries(rt, queries, steps, 2)
    many_render, many_follow_up, many_cards = move_queries(rt, queries, steps, 12)

    assert len(many_cards) == 12 and all("Fan-out Lead" in html for html in many_cards)
    # A share lets them see the card, not move it.
    assert not any("data-move-url" in html for html in few_cards + many_cards)
    # The record's re-read and one permission query for all the sockets, whatever their number.
    assert many_render == few_render <= 4
    # The column counts are each user's own: one count-and-sum query per socket, after the card.
    assert few_follow_up <= 2 and many_follow_up <= 12


def test_a_revoked_share_stops_the_cards_while_the_others_still_get_them(rt, steps):
    owner = UserFactory(role=Role.MANAGER)
    lead = LeadFactory(owner=owner, name="Shared Then Not")
    kept, revoked = UserFactory(role=Role.SALES_REP), UserFactory(role=Role.SALES_REP)
    for rep in (kept, revoked):
        permissions.share(rep, lead)
    board = f"/ws/boards/{lead.wfm_project.workflow_id}/"

    async def scenario():
        sockets = [await rt.connect(board, kept), await rt.connect(board, revoked)]
        await db(services.lead_transition)(by=owner, lead=lead, to_step=steps[LeadStep.CONTACTED])
        for socket in sockets:
            await receive_until(socket, card_of(lead))
        await drain(sockets)
        await db(permissions.revoke)(revoked, lead, permissions.SHARE_ACTIONS)
        await db(services.lead_update)(by=owner, lead=lead, data={"name": "Renamed After"})
        await db(services.lead_transition)(by=owner, lead=lead, to_step=steps[LeadStep.NEW_LEAD])
        await receive_until(sockets[0], lambda h: "Renamed After" in h)
        assert await nothing(sockets[1], timeout=0.8)

    run(scenario, rt)


def test_a_viewer_and_an_assignee_on_one_board_each_get_their_own_card(rt, steps):
    owner = UserFactory(role=Role.MANAGER)
    assignee = UserFactory(role=Role.SALES_REP)
    viewer = UserFactory(role=Role.VIEWER)
    lead = LeadFactory(owner=owner, assigned_to=assignee, name="Two Variants")
    permissions.share(viewer, lead)
    board = f"/ws/boards/{lead.wfm_project.workflow_id}/"

    async def scenario():
        theirs = await rt.connect(board, viewer)
        mine = await rt.connect(board, assignee)
        await db(services.lead_transition)(by=owner, lead=lead, to_step=steps[LeadStep.CONTACTED])
        assert "data-move-url" in await receive_until(mine, card_of(lead))
        viewed = await receive_until(theirs, card_of(lead))
        assert "Two Variants" in viewed and "data-move-url" not in viewed

    run(scenario, rt)
