"""``/ws/dashboard/``: signed-in users only; a burst of changes is coalesced into at most one
notice now and one when the interval has passed."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.db import transaction

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
