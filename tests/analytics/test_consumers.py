"""``/ws/dashboard/``: signed-in users only; a burst of changes is coalesced into at most one
notice now and one when the interval has passed."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.db import transaction
from django.utils import timezone

from leads import services
from tests.realtime.conftest import nothing, rt, run  # noqa: F401 - rt is a fixture


def test_dashboard_socket_refuses_anonymous(rt):  # noqa: F811
    async def scenario():
        _, accepted, code = await rt.open("/ws/dashboard/", None)
        assert not accepted and code == 4401

    run(scenario, rt)


@pytest.mark.parametrize("burst", [4])
def test_a_burst_of_changes_is_coalesced(rt, manager, rep1, settings, burst):  # noqa: F811
    settings.DASHBOARD_LIVE_SECONDS = 1.0

    def create_burst() -> None:
        # One transaction: the changes are published together on commit, however slow the
        # machine (an import, a bulk action).
        with transaction.atomic():
            for n in range(burst):
                services.lead_create(by=rep1, name=f"Burst {n}")

    async def scenario():
        socket = await rt.connect("/ws/dashboard/", manager)
        await database_sync_to_async(create_burst)()
        notices = [await socket.receive_from(timeout=5)]
        while not await nothing(socket, timeout=1.5):
            notices.append(await socket.receive_from(timeout=1))
        assert 1 <= len(notices) <= 2 < burst
        for html in notices:
            assert 'id="dashboard-stale"' in html and 'hx-swap-oob="true"' in html
            assert "Burst" not in html  # no figures, no records: the page re-reads them

    run(scenario, rt)


def test_activity_changes_refresh_the_dashboard(rt, manager, rep1, settings):  # noqa: F811
    """Creating, completing, reopening and deleting an activity each tell open dashboards (the rep's
    My day and the manager's team page) to re-read their figures. The activity is on no
    lead or deal, so no lead or deal change could have sent the notice instead."""
    from activities import services as activity_services

    settings.DASHBOARD_LIVE_SECONDS = 0.2
    made = {}

    def create() -> None:
        made["activity"] = activity_services.activity_create(
            by=rep1, type="task", subject="Call back", due_at=timezone.now()
        )

    def complete() -> None:
        activity_services.activity_complete(by=rep1, activity=made["activity"])

    def reopen() -> None:
        activity_services.activity_reopen(by=rep1, activity=made["activity"])

    def delete() -> None:
        activity_services.activity_delete(by=rep1, activity=made["activity"])

    async def scenario():
        sockets = [
            await rt.connect("/ws/dashboard/", manager),
            await rt.connect("/ws/dashboard/", rep1),
        ]
        for change in (create, complete, reopen, delete):
            await database_sync_to_async(change)()
            for socket in sockets:
                html = await socket.receive_from(timeout=5)
                assert 'id="dashboard-stale"' in html, change.__name__
                assert "Call back" not in html
            for socket in sockets:  # let the coalescing window pass before the next change
                while not await nothing(socket, timeout=0.5):
                    await socket.receive_from(timeout=1)

    run(scenario, rt)
