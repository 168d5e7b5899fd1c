"""SPEC §11 realtime: change committed → fragment received by 50 open sockets, p50/p95.

Opens ``--sockets`` websockets on the real ASGI application (in this process, through
Channels' ``WebsocketCommunicator``: origin check, session auth, routing, consumers), one per
user, all watching one lead — on the leads board (default) or its detail page. Then it commits
``--changes`` moves of that lead through ``leads.services.lead_transition`` in a worker thread
and measures, for every socket, the time from the commit to the arrival of its fragment.

The path measured is the production one: the commit dispatches the outbox event; the Celery
task runs here eagerly (what a worker does: every handler of the event, among them
``leads.realtime.publish_lead_change``, which publishes to the channel layer); each consumer
re-reads the lead as its own user, checks ``crm.permissions`` and renders the card; the
column headers follow the card (their arrival is reported too, apart from the target's
figure). Run it with REDIS_URL set to measure the Redis channel layer::

    REDIS_URL=redis://127.0.0.1:6379/2 DATABASE_URL=postgres://…/pipecrm_rt \\
        python manage.py benchmark_realtime --sockets 50 --changes 20

``--viewers managers`` (default): users who see every lead (the Manager role);
``--viewers reps``: Sales Reps who each see the lead through an object permission (a share),
so every delivery goes through the per-object permission check.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import threading
import time
from decimal import Decimal

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections, connections, transaction
from django.test import Client

from crm import permissions
from crm.roles import Role

TARGET_P95_MS = 250
ORIGIN = b"http://testserver"


class Command(BaseCommand):
    help = "Measure change committed → fragment received on N open websockets (SPEC §11)."

    def add_arguments(self, parser):
        parser.add_argument("--sockets", type=int, default=50)
        parser.add_argument("--changes", type=int, default=20)
        parser.add_argument("--surface", choices=["board", "detail"], default="board")
        parser.add_argument("--viewers", choices=["managers", "reps"], default="managers")
        parser.add_argument(
            "--warmup", type=int, default=2, help="Changes made first and not measured."
        )
        parser.add_argument(
            "--layer",
            choices=["settings", "pubsub"],
            default="settings",
            help="The configured channel layer, or channels_redis' pub/sub layer on REDIS_URL.",
        )
        parser.add_argument(
            "--committer",
            choices=["thread", "process"],
            default="thread",
            help="Commit (and run the outbox handlers) in a thread of this process, or in a "
            "forked process as a Celery worker would (Redis only).",
        )
        parser.add_argument(
            "--timeout", type=float, default=10.0, help="Seconds to wait for one change."
        )

    def handle(self, *args, **options):
        self.verbosity = options["verbosity"]
        from config.celery import app as celery_app

        if options["layer"] == "pubsub":
            if not settings.REDIS_URL:
                raise CommandError("--layer pubsub needs REDIS_URL.")
            settings.CHANNEL_LAYERS = {
                "default": {
                    "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                    "CONFIG": {**settings.CHANNEL_LAYERS["default"]["CONFIG"]},
                }
            }
        layer = settings.CHANNEL_LAYERS["default"]["BACKEND"]
        if not settings.REDIS_URL:
            self.stderr.write(
                self.style.WARNING(
                    "REDIS_URL is not set: measuring the in-memory channel layer, not Redis."
                )
            )
        if options["sockets"] < 1 or options["changes"] < 1:
            raise CommandError("--sockets and --changes must be at least 1.")
        if options["committer"] == "process" and not settings.REDIS_URL:
            raise CommandError("--committer process needs REDIS_URL (a layer shared by processes).")
        # What the worker does, done here: the outbox task runs where the change commits.
        celery_app.conf.task_always_eager = True
        settings.CELERY_TASK_ALWAYS_EAGER = True
        committer = Committer(forked=options["committer"] == "process")

        lead, owner, viewers, steps = self._dataset(options["sockets"], options["viewers"])
        cookies = [self._cookie(user) for user in viewers]
        close_old_connections()
        path = (
            f"/ws/boards/{lead.wfm_project.workflow_id}/"
            if options["surface"] == "board"
            else f"/ws/leads/{lead.pk}/"
        )
        self.stdout.write(
            f"{options['sockets']} sockets on {path} ({options['viewers']}), "
            f"{options['changes']} changes committed in a {options['committer']}, "
            f"layer {layer.rsplit('.', 1)[-1]}, "
            f"database {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}, "
            f"CONN_MAX_AGE {settings.DATABASES['default'].get('CONN_MAX_AGE')}"
        )
        try:
            result = async_to_sync(self._run)(
                committer,
                path,
                cookies,
                lead,
                owner,
                steps,
                options["changes"],
                options["timeout"],
                options["warmup"],
            )
        finally:
            committer.close()
        self._report(result, options)

    # --- dataset ------------------------------------------------------------------------------
    def _dataset(self, sockets: int, kind: str):
        from django.contrib.auth.models import Group

        from crm.models import User
        from leads import services
        from leads.selectors import lead_steps
        from wfm.defaults import LeadStep

        role = Role.MANAGER if kind == "managers" else Role.SALES_REP
        group = Group.objects.get(name=role.value)
        manager_group = Group.objects.get(name=Role.MANAGER.value)
        owner, _ = User.objects.get_or_create(
            username="rtbench_owner", defaults={"first_name": "Bench", "last_name": "Owner"}
        )
        owner.groups.add(manager_group)
        viewers = []
        for i in range(sockets):
            user, _ = User.objects.get_or_create(
                username=f"rtbench_{kind}_{i:03d}",
                defaults={"first_name": "Viewer", "last_name": f"{i:03d}"},
            )
            user.groups.add(group)
            viewers.append(user)
        lead = services.lead_create(
            by=owner,
            name="Realtime benchmark lead",
            company_name="Bench GmbH",
            estimated_value=Decimal("10000"),
            source="web",
        )
        if kind == "reps":
            for user in viewers:
                permissions.share(user, lead)
        by_name = {s.name: s for s in lead_steps() if s.workflow_id == lead.wfm_project.workflow_id}
        steps = (by_name[LeadStep.NEW_LEAD], by_name[LeadStep.CONTACTED])
        return lead, owner, viewers, steps

    def _cookie(self, user) -> str:
        client = Client()
        client.force_login(user)
        return client.cookies[settings.SESSION_COOKIE_NAME].value

    # --- measurement --------------------------------------------------------------------------
    async def _run(self, committer, path, cookies, lead, owner, steps, changes, timeout, warmup):
        from channels.testing import WebsocketCommunicator

        from config.asgi import application

        board = "/boards/" in path
        marker = f'id="card-{lead.pk}"' if board else "lead-refresh"
        sockets = []
        for cookie in cookies:
            communicator = WebsocketCommunicator(
                application,
                path,
                headers=[
                    (b"origin", ORIGIN),
                    (b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()),
                ],
            )
            accepted, code = await communicator.connect(timeout=timeout)
            if not accepted:
                raise CommandError(f"socket refused ({code})")
            sockets.append(communicator)
        await self._drain(sockets)  # presence chatter on detail pages

        samples: list[float] = []
        heads: list[float] = []
        publish: list[float] = []
        missing = 0
        try:
            for i in range(warmup + changes):
                arrivals: list[float | None] = [None] * len(sockets)
                headers: list[float | None] = [None] * len(sockets)

                async def listen(n, communicator, arrivals=arrivals, headers=headers):
                    # The card; on a board also the column headers, which follow it.
                    while arrivals[n] is None or (board and headers[n] is None):
                        html = await communicator.receive_from(timeout=timeout)
                        if marker in html and arrivals[n] is None:
                            arrivals[n] = time.monotonic()
                        if "board-head-" in html and headers[n] is None:
                            headers[n] = time.monotonic()

                listeners = [asyncio.ensure_future(listen(n, c)) for n, c in enumerate(sockets)]
                target = steps[(i + 1) % 2]
                committed, published = await sync_to_async(
                    committer.change, thread_sensitive=False
                )(lead.pk, owner.pk, target.pk)
                done = await asyncio.gather(*listeners, return_exceptions=True)
                await self._drain(sockets, quiet=0.05)
                if i < warmup:  # a server that has rendered before: templates, code paths
                    continue
                missing += sum(1 for d in done if isinstance(d, BaseException))
                latencies = [(t - committed) * 1000 for t in arrivals if t is not None]
                samples += latencies
                heads += [(t - committed) * 1000 for t in headers if t is not None]
                publish.append((published - committed) * 1000)
                if self.verbosity > 1 and latencies:
                    self.stdout.write(
                        f"  change {i - warmup + 1}: first {min(latencies):.0f} ms, "
                        f"last {max(latencies):.0f} ms, published after "
                        f"{(published - committed) * 1000:.0f} ms"
                    )
        finally:
            for communicator in sockets:
                await communicator.disconnect()
        return {"samples": samples, "heads": heads, "publish": publish, "missing": missing}

    @staticmethod
    async def _drain(sockets, quiet: float = 0.3) -> None:
        for communicator in sockets:
            while not await communicator.receive_nothing(timeout=quiet):
                await communicator.receive_from()

    def _report(self, result, options) -> None:
        samples = sorted(result["samples"])
        expected = options["sockets"] * options["changes"]
        if not samples:
            raise CommandError("No fragment arrived.")

        def pct(p: float) -> float:
            return _pct(samples, p)

        p95 = pct(95)
        self.stdout.write(
            f"fragments received: {len(samples)}/{expected}"
            + (f" ({result['missing']} missing)" if result["missing"] else "")
        )
        self.stdout.write(
            f"commit → fragment: p50 {pct(50):.0f} ms, p95 {p95:.0f} ms, "
            f"max {samples[-1]:.0f} ms, mean {statistics.fmean(samples):.0f} ms"
        )
        if result["heads"]:
            heads = sorted(result["heads"])
            self.stdout.write(
                f"commit → column headers (after the card): p50 {_pct(heads, 50):.0f} ms, "
                f"p95 {_pct(heads, 95):.0f} ms"
            )
        self.stdout.write(
            "commit → outbox handlers done (published): "
            f"median {statistics.median(result['publish']):.0f} ms"
        )
        meets = p95 <= TARGET_P95_MS
        verdict = self.style.SUCCESS("meets") if meets else self.style.ERROR("misses")
        self.stdout.write(f"SPEC §11 target p95 ≤ {TARGET_P95_MS} ms: {verdict}")


def _pct(ordered: list[float], p: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def commit_change(lead_id, owner_id, step_id) -> tuple[float, float]:
    """Commit one move; returns (commit time, time the event's handlers finished), on the
    system-wide monotonic clock (comparable across processes)."""
    from crm.models import User
    from leads import services
    from leads.models import Lead

    close_old_connections()
    owner = User.objects.get(pk=owner_id)
    lead = Lead.objects.select_related("wfm_project__workflow").get(pk=lead_id)
    stamp: dict[str, float] = {}
    try:
        with transaction.atomic():
            # Registered first, so it runs first among the commit's callbacks: the moment of
            # the commit, before the outbox dispatch that follows it.
            transaction.on_commit(lambda: stamp.setdefault("committed", time.monotonic()))
            services.lead_transition(by=owner, lead=lead, to_step=step_id)
        return stamp["committed"], time.monotonic()
    finally:
        close_old_connections()


class Committer:
    """Where the changes commit: a thread of this process, or a forked child process (a
    stand-in for a Celery worker: no GIL shared with the consumers; Redis in between)."""

    def __init__(self, *, forked: bool) -> None:
        self.process = None
        if forked:
            connections.close_all()  # the child must open its own
            context = multiprocessing.get_context("fork")
            self.pipe, child = context.Pipe()
            self.process = context.Process(target=self._serve, args=(child,), daemon=True)
            self.process.start()
            self.lock = threading.Lock()

    @staticmethod
    def _serve(pipe) -> None:
        connections.close_all()
        while (request := pipe.recv()) is not None:
            try:
                pipe.send(("ok", commit_change(*request)))
            except Exception as exc:  # reported in the parent
                pipe.send(("error", repr(exc)))

    def change(self, lead_id, owner_id, step_id) -> tuple[float, float]:
        if self.process is None:
            return commit_change(lead_id, owner_id, step_id)
        with self.lock:
            self.pipe.send((str(lead_id), owner_id, step_id))
            status, result = self.pipe.recv()
        if status != "ok":
            raise CommandError(f"the committing process failed: {result}")
        return result

    def close(self) -> None:
        if self.process is not None:
            self.pipe.send(None)
            self.process.join(timeout=10)
