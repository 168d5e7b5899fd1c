"""``/ws/dashboard/``: tells an open dashboard that its figures may have changed.

It joins the lead, deal and activity change groups (``crm.realtime.table_group``), which
every lead and deal service (through their outbox handlers) and every activity change
(``activities.realtime``: created, changed, completed, reopened, deleted) publish to, and coalesces
their signals: at most one notice per ``DASHBOARD_LIVE_SECONDS``. The notice carries no
figures and no record: the page re-reads the dashboard over HTTP as its own user, so it only
ever shows what that user may see.
"""

from __future__ import annotations

import asyncio
import time

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from crm.realtime import table_group

UNAUTHENTICATED = 4401
KINDS = ("lead", "deal", "activity")
NOTICE = '<div id="dashboard-stale" hidden hx-swap-oob="true" data-at="{at}"></div>'


class DashboardConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=UNAUTHENTICATED)
            return
        self.groups_joined = [table_group(kind) for kind in KINDS]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        self.pending: asyncio.Task | None = None
        self.last_sent = 0.0
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", ()):
            await self.channel_layer.group_discard(group, self.channel_name)
        if getattr(self, "pending", None):
            self.pending.cancel()

    async def realtime_change(self, message: dict) -> None:
        if self.pending is not None and not self.pending.done():
            return  # a notice is already on its way: this change rides along
        wait = max(0.0, self.last_sent + settings.DASHBOARD_LIVE_SECONDS - time.monotonic())
        self.pending = asyncio.ensure_future(self._notify(wait))

    async def _notify(self, wait: float) -> None:
        if wait:
            await asyncio.sleep(wait)
        self.last_sent = time.monotonic()
        await self.send(text_data=NOTICE.format(at=int(time.time())))
