"""The pages' realtime hooks, shared renderings for users who see everything, long-lived
connections (user re-reads, idle sockets on Redis)."""

from __future__ import annotations

import asyncio
import os

import pytest

from crm import consumers, realtime
from leads import services
from tests.leads.factories import LeadFactory
from tests.realtime.conftest import db, nothing, receive_until, run
from wfm.defaults import LeadStep
from wfm.models import WorkflowStep


# --- the pages carry the sockets and the ids the fragments target ------------------------------
def test_board_page_opens_a_board_socket_and_cards_have_ids(client, rep1):
    lead = LeadFactory(owner=rep1)
    client.force_login(rep1)
    html = client.get("/leads/board/").content.decode()
    workflow_id = lead.wfm_project.workflow_id
    assert f'ws-connect="/ws/boards/{workflow_id}/"' in html
    assert f'id="card-{lead.pk}"' in html
    assert "realtimeRefresh from:body" in html
    assert 'ws-connect="/ws/notifications/"' in html and "js/realtime.js" in html
    # The socket element sits outside the region htmx swaps (one socket, not one per swap).
    socket, board = html.index('id="board-socket"'), html.index('id="board"')
    assert socket < board and html.count("ws-connect=") == 2


def test_board_socket_carries_the_board_filters(client, rep1):
    LeadFactory(owner=rep1)
    client.force_login(rep1)
    html = client.get("/leads/board/?source=web").content.decode()
    assert "/?source=web" in html


def test_read_only_grouped_board_has_no_board_socket(client, rep1):
    LeadFactory(owner=rep1)
    client.force_login(rep1)
    html = client.get("/leads/board/?group=source").content.decode()
    assert "/ws/boards/" not in html


def test_detail_page_has_its_socket_presence_and_refresh_target(client, rep1):
    lead = LeadFactory(owner=rep1)
    client.force_login(rep1)
    html = client.get(f"/leads/{lead.pk}/").content.decode()
    assert f'ws-connect="/ws/leads/{lead.pk}/"' in html
    assert 'id="presence"' in html and 'id="lead-refresh"' in html
    # The socket and presence sit outside #lead-main, so a refresh keeps them.
    assert html.index('id="presence"') < html.index('id="lead-main"')


def test_lead_table_has_its_socket_the_new_rows_bar_and_row_ids(client, rep1):
    lead = LeadFactory(owner=rep1)
    client.force_login(rep1)
    html = client.get("/leads/").content.decode()
    assert 'ws-connect="/ws/tables/lead/' in html and 'id="new-rows-bar"' in html
    assert f'<tr id="row-{lead.pk}"' in html


def test_deal_pages_have_their_sockets(client, rep1):
    from tests.deals.factories import make_deal

    deal = make_deal(rep1)
    client.force_login(rep1)
    board = client.get("/deals/board/").content.decode()
    assert f'ws-connect="/ws/boards/{deal.wfm_project.workflow_id}/' in board
    assert f'id="card-{deal.pk}"' in board and 'id="pipeline-totals"' in board
    detail = client.get(f"/deals/{deal.pk}/").content.decode()
    assert f'ws-connect="/ws/deals/{deal.pk}/"' in detail and 'id="deal-refresh"' in detail


def test_anonymous_pages_open_no_socket(client):
    html = client.get("/accounts/login/").content.decode()
    assert "ws-connect" not in html


# --- sharing -----------------------------------------------------------------------------------
def test_who_sees_everything(rep1, manager, analyst, admin_user):
    assert realtime.sees_everything(manager, "lead")
    assert realtime.sees_everything(admin_user, "lead")
    assert not realtime.sees_everything(rep1, "lead")
    assert not realtime.sees_everything(analyst, "lead")  # sees all, may not move them
    assert not realtime.sees_everything(manager, "widget")


def test_managers_on_one_board_share_one_rendering(rt, manager, admin_user, rep1, monkeypatch):
    lead = LeadFactory(owner=rep1, name="Shared Render")
    board = f"/ws/boards/{lead.wfm_project.workflow_id}/"
    calls = []
    deliver = realtime.deliver

    def counting(user, message, **kwargs):
        calls.append((message["id"], user.username))
        return deliver(user, message, **kwargs)

    monkeypatch.setattr(realtime, "deliver", counting)

    async def scenario():
        first = await rt.connect(board, manager)
        second = await rt.connect(board, admin_user)
        own = await rt.connect(board, rep1)
        await db(services.lead_update)(by=rep1, lead=lead, data={"name": "Shared Render 2"})
        html = await receive_until(first, lambda h: "Shared Render 2" in h)
        assert await receive_until(second, lambda h: "Shared Render 2" in h) == html
        await receive_until(own, lambda h: "Shared Render 2" in h)
        for socket in (first, second, own):
            while not await socket.receive_nothing(timeout=0.5):
                await socket.receive_from()
        # Per message: one rendering for the two who see everything, one for the rep. (With
        # Redis, a socket an earlier test of this process left on the same workflow's board
        # may be served too: only this test's users count.)
        ours = {"manager", "admin", "rep1"}
        for message_id in {m for m, _ in calls}:
            users = [u for m, u in calls if m == message_id and u in ours]
            assert sorted(users) in (["admin", "rep1"], ["manager", "rep1"])

    run(scenario, rt)


def test_an_edit_that_leaves_the_columns_alone_sends_no_headers(rt, rep1):
    lead = LeadFactory(owner=rep1)

    async def scenario():
        socket = await rt.connect(f"/ws/boards/{lead.wfm_project.workflow_id}/", rep1)
        await db(services.lead_update)(by=rep1, lead=lead, data={"name": "Only the name"})
        html = await receive_until(socket, lambda h: "Only the name" in h)
        assert "board-head-" not in html
        while not await nothing(socket):  # nor after the card (more cards may come)
            assert "board-head-" not in await socket.receive_from()

    run(scenario, rt)


def test_a_move_refreshes_the_two_columns_it_touches(rt, rep1):
    lead = LeadFactory(owner=rep1)
    steps = {
        s.name: s
        for s in WorkflowStep.objects.filter(
            workflow_id=lead.wfm_project.workflow_id
        ).select_related("status")
    }

    async def scenario():
        socket = await rt.connect(f"/ws/boards/{lead.wfm_project.workflow_id}/", rep1)
        await db(services.lead_transition)(by=rep1, lead=lead, to_step=steps[LeadStep.CONTACTED])
        await receive_until(socket, lambda h: f"card-{lead.pk}" in h)
        html = await receive_until(socket, lambda h: "board-head-" in h)
        assert html.count("board-head-") == 2
        assert f"board-head-{steps[LeadStep.NEW_LEAD].pk}" in html
        assert f"board-head-{steps[LeadStep.CONTACTED].pk}" in html
        assert f"board-head-{steps[LeadStep.QUALIFIED].pk}" not in html

    run(scenario, rt)


# --- long-lived connections --------------------------------------------------------------------
def test_a_user_deactivated_meanwhile_is_disconnected(rt, rep1, monkeypatch):
    lead = LeadFactory(owner=rep1)
    monkeypatch.setattr(consumers, "USER_REFRESH_SECONDS", 0)

    async def scenario():
        socket = await rt.connect(f"/ws/boards/{lead.wfm_project.workflow_id}/", rep1)

        def deactivate_and_change():
            type(rep1).objects.filter(pk=rep1.pk).update(is_active=False)
            realtime.send_to_groups(
                [realtime.board_group(lead.wfm_project.workflow_id)],
                realtime.change_message("lead", lead.pk, ["name"], lead.wfm_project.workflow_id),
            )

        await db(deactivate_and_change)()
        output = await socket.receive_output(timeout=5)
        assert output["type"] == "websocket.close" and output["code"] == 4401

    run(scenario, rt)


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs the Redis channel layer")
def test_an_idle_socket_on_redis_still_receives(rt, rep1):
    """channels_redis blocks 5 s per receive; reads must outlast it (config/settings.py)."""

    async def scenario():
        socket = await rt.connect("/ws/notifications/", rep1)
        await asyncio.sleep(6.5)
        await db(realtime.send_now)(
            realtime.user_group(rep1.pk), {"type": "send_html", "html": "<div>still here</div>"}
        )
        assert await socket.receive_from(timeout=5) == "<div>still here</div>"

    run(scenario, rt)
