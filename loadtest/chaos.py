"""``python -m loadtest chaos``: the fault suite of issue 21, against the production-mode stack.

It starts everything it breaks on its own — a PostgreSQL cluster initialised into a
temporary directory, a ``redis-server`` on a free port, two daphne processes, a Celery worker
and beat — so that stopping or killing them disturbs nothing else on the machine. While a
load of writes and reads runs (API clients creating leads assigned to a rep, which makes
welcome tasks, notifications and webhook deliveries; signed-in pages; websocket viewers on
live leads whose company a writer stamps with the time), five scenarios:

1. SIGKILL the Celery worker (its whole process group) in the middle of 200+ events, then
   start it again: every event handled, each side effect once (welcome tasks and
   notifications per lead, webhook deliveries counted by id at a receiver of our own),
   nothing left pending after the re-dispatch interval.
2. Stop Redis for 30 s: pages and API keep answering reads and writes (events wait in the
   outbox), ``/healthz`` answers 503 naming the cache and the broker, no request takes
   longer than the configured timeouts allow, the websockets reconnect and catch up once
   Redis is back, and the outbox drains.
3. Restart PostgreSQL (stopped for a few seconds): requests meanwhile fail fast with 503 and
   the error envelope (no hang, no 500), and the same app processes serve again after.
4. SIGKILL the daphne process holding the viewers' websockets: they reconnect to the other
   one, re-read their page (the catch-up) and miss no change.
5. A poison event (``loadtest.poison``: a handler that always raises): retried with backoff,
   marked dead after ``EVENT_HANDLER_MAX_ATTEMPTS``, visible in the admin, while every other
   event goes on being handled.

Shortened for the suite, through the documented settings: re-dispatch after 5 s
(``EVENT_REDISPATCH_AFTER``) and every 2 s (beat), retry backoff from 1 s
(``EVENT_RETRY_BACKOFF``), 4 attempts (``EVENT_HANDLER_MAX_ATTEMPTS``), the webhook retry
sweep every 5 s and the worker heartbeat every 5 s. Each scenario prints what it did and what
it verified; any loss, duplicate or hang fails it, and the suite exits 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from loadtest import htmx
from loadtest.stack import Postgres, Redis, Stack, free_port, log, wait_until

DEFAULT_WORKDIR = Path(os.environ.get("LOADTEST_WORKDIR", "/var/tmp/pipecrm-loadtest"))
DATABASE = "pipecrm_chaos"
PASSWORD = "chaos-" + uuid.uuid4().hex[:16]
REDISPATCH_AFTER = 5
REDISPATCH_EVERY = 2
MAX_ATTEMPTS = 4
# No request may take longer than this, outage or not: the database's connect timeout and
# Redis's, with room for a busy 2-core machine.
HANG_LIMIT = 8.0
SETTINGS = {
    "EVENT_REDISPATCH_AFTER": str(REDISPATCH_AFTER),
    "EVENT_RETRY_BACKOFF": "1",
    "EVENT_HANDLER_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
    "WEBHOOK_ALLOW_PRIVATE": "1",  # the receiver listens on 127.0.0.1
    "DB_STATEMENT_TIMEOUT": "30",
    "LOG_LEVEL": "INFO",
}


# --- bookkeeping ---------------------------------------------------------------------------------
@dataclass
class Call:
    kind: str
    started: float
    seconds: float
    status: int  # 0: no answer (connection refused, timed out)
    error: str = ""
    body: str = ""


class Calls:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: list[Call] = []

    def add(self, call: Call) -> None:
        with self._lock:
            self.items.append(call)

    def between(self, start: float, end: float) -> list[Call]:
        with self._lock:
            return [c for c in self.items if start <= c.started <= end]


class Scenario:
    def __init__(self, number: int, title: str) -> None:
        self.number, self.title = number, title
        self.failures: list[str] = []
        self.started = time.monotonic()
        log(f"\n=== {number}. {title}")

    def did(self, text: str) -> None:
        log(f"  did:      {text}")

    def verified(self, ok: bool, text: str) -> bool:
        log(f"  {'verified' if ok else 'FAILED  '}: {text}")
        if not ok:
            self.failures.append(text)
        return ok

    def done(self) -> bool:
        seconds = time.monotonic() - self.started
        verdict = "PASSED" if not self.failures else f"FAILED ({len(self.failures)})"
        log(f"  --> scenario {self.number} {verdict} in {seconds:.0f} s")
        return not self.failures


# --- HTTP ----------------------------------------------------------------------------------------
class Client:
    """An API client (token) or a signed-in browser (session cookie, CSRF), recording every
    call. Cookies are kept by hand: the app sets them ``Secure`` (DEBUG off) and the suite
    talks plain HTTP to loopback, as the TLS proxy in front would."""

    def __init__(self, base: str, calls: Calls | None = None, *, token: str = "") -> None:
        self.base = base
        self.calls = calls
        self.http = httpx.Client(base_url=base, timeout=30, follow_redirects=False)
        self.cookies: dict[str, str] = {}
        self.token = token

    def request(self, kind: str, method: str, path: str, *, htmx_target=None, **kwargs):
        headers = kwargs.pop("headers", {})
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if htmx_target is not None:
            headers.update({"HX-Request": "true", "HX-Target": htmx_target})
        if method != "GET" and not self.token:
            headers.update({"X-CSRFToken": self.cookies.get("csrftoken", ""), "Origin": self.base})
        started = time.monotonic()
        try:
            response = self.http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            call = Call(kind, started, time.monotonic() - started, 0, type(exc).__name__)
            if self.calls is not None:
                self.calls.add(call)
            return None
        self.cookies.update(response.cookies)
        self.http.cookies.clear()
        call = Call(
            kind, started, time.monotonic() - started, response.status_code, "", response.text[:300]
        )
        if self.calls is not None:
            self.calls.add(call)
        return response

    def sign_in(self, username: str, password: str) -> None:
        self.request("login page", "GET", "/accounts/login/")
        response = self.request(
            "sign in",
            "POST",
            "/accounts/login/",
            data={
                "username": username,
                "password": password,
                "csrfmiddlewaretoken": self.cookies.get("csrftoken", ""),
            },
        )
        if response is None or response.status_code != 302:
            raise RuntimeError(
                f"sign-in of {username} refused: {response and response.status_code}"
            )

    def request_cookie(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def close(self) -> None:
        self.http.close()


# --- the webhook receiver ------------------------------------------------------------------------
class Receiver:
    """Counts webhook deliveries by their id (``X-PipeCRM-Delivery``)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_id: Counter[str] = Counter()
        self.events: dict[str, str] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server name
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                delivery = self.headers.get("X-PipeCRM-Delivery", "")
                with receiver.lock:
                    receiver.by_id[delivery] += 1
                    with contextlib.suppress(ValueError):
                        receiver.events[delivery] = json.loads(body).get("event", "")
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()


# --- load ----------------------------------------------------------------------------------------
class Load:
    """Writes and reads in threads until stopped: API clients creating leads assigned to the
    rep (``created``: their ids), listing leads; a signed-in page reader; a writer stamping
    the live leads' company with the time (``stamps``)."""

    def __init__(self, suite: Suite, *, writers: int = 2, pace: float = 0.3) -> None:
        self.suite = suite
        self.calls = Calls()
        self.stop_flag = threading.Event()
        self.created: list[str] = []
        # lead → (stamp ms, status, answered at ms): what was written, and when it was known
        self.stamps: dict[str, list[tuple[int, int, float]]] = defaultdict(list)
        self.lock = threading.Lock()
        self.writers = writers
        self.pace = pace
        self.threads: list[threading.Thread] = []
        self.paused = threading.Event()

    def start(self) -> None:
        targets = [self.writer] * self.writers + [self.reader, self.pages, self.stamper]
        for i, target in enumerate(targets):
            thread = threading.Thread(target=target, args=(i,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def stop(self) -> None:
        self.stop_flag.set()
        for thread in self.threads:
            thread.join(40)

    def _base(self, i: int) -> str:
        urls = self.suite.live_urls()
        return urls[i % len(urls)]

    def writer(self, i: int) -> None:
        suite = self.suite
        while not self.stop_flag.is_set():
            client = Client(self._base(i), self.calls, token=suite.token)
            response = client.request(
                "api write",
                "POST",
                "/api/v1/leads/",
                json={
                    "name": f"Chaos lead {uuid.uuid4().hex[:10]}",
                    "source": "web",
                    "assigned_to": suite.rep_id,
                    "contact_email": f"chaos-{uuid.uuid4().hex[:8]}@example.org",
                },
            )
            if response is not None and response.status_code == 201:
                with self.lock:
                    self.created.append(response.json()["id"])
            client.close()
            self.stop_flag.wait(self.pace)

    def reader(self, i: int) -> None:
        while not self.stop_flag.is_set():
            client = Client(self._base(i), self.calls, token=self.suite.token)
            client.request("api read", "GET", "/api/v1/leads/?page_size=20&ordering=-created_at")
            client.close()
            self.stop_flag.wait(self.pace)

    def pages(self, i: int) -> None:
        client = Client(self._base(i), None)
        while not self.stop_flag.is_set():
            try:
                client.sign_in(self.suite.rep, PASSWORD)
                break
            except Exception:  # noqa: BLE001 - the database may be down: try again
                self.stop_flag.wait(1)
        client.calls = self.calls
        while not self.stop_flag.is_set():
            client.request("page", "GET", "/leads/")
            client.request("htmx rows", "GET", "/leads/?ordering=-lead_score", htmx_target="rows")
            self.stop_flag.wait(self.pace)

    def stamper(self, i: int) -> None:
        """Each live lead's company becomes "RT <ms>" in turn, two a second."""
        turn = 0
        while not self.stop_flag.is_set():
            lead = self.suite.live_leads[turn % len(self.suite.live_leads)]
            turn += 1
            stamp = int(time.time() * 1000)
            client = Client(self._base(i), self.calls, token=self.suite.token)
            response = client.request(
                "api stamp",
                "PATCH",
                f"/api/v1/leads/{lead}/",
                json={"company_name": htmx.marker(stamp)},
            )
            client.close()
            with self.lock:
                status = response.status_code if response else 0
                self.stamps[lead].append((stamp, status, time.time() * 1000))
            self.stop_flag.wait(0.5)

    def last_stamp(self, lead: str, before: float | None = None) -> int | None:
        """The newest stamp written for ``lead`` (answered 200; by ``before``, epoch ms: its
        answer had come back then, so any read started after saw it)."""
        with self.lock:
            ok = [(s, at) for s, status, at in self.stamps[lead] if status == 200]
        if before is not None:
            ok = [(s, at) for s, at in ok if at <= before]
        return max(s for s, _ in ok) if ok else None


# --- websocket viewers ---------------------------------------------------------------------------
class Viewer:
    """A live lead's page in a browser: its record socket, re-opened with backoff when it
    drops (to whichever ASGI process answers: the other one, when one died), then the page's
    region re-read (the catch-up). ``shown``: the newest stamp on screen."""

    def __init__(self, suite: Suite, lead: str, ports: list[int]) -> None:
        self.suite, self.lead, self.ports = suite, lead, ports
        self.shown: int = 0
        self.history: list[tuple[float, str, object]] = []  # (time, what, detail)
        self.connected_port: int | None = None
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.clients: dict[int, Client] = {}
        self.reconnects = 0
        self.drops = 0

    def note(self, what: str, detail=None) -> None:
        with self.lock:
            self.history.append((time.time(), what, detail))

    def client(self, port: int) -> Client:
        if port not in self.clients:
            client = Client(f"http://127.0.0.1:{port}")
            client.cookies = dict(self.suite.rep_cookies)
            self.clients[port] = client
        return self.clients[port]

    def read_region(self, port: int, how: str) -> bool:
        started = time.time()
        response = self.client(port).request(
            "viewer region", "GET", f"/leads/{self.lead}/", htmx_target="lead-main"
        )
        if response is None or response.status_code != 200:
            return False
        stamps = htmx.markers(response.text)
        if stamps:
            self.shown = max(self.shown, max(stamps))
        self.note(how, (self.shown, started))
        return True

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stop_flag.set()
        self.thread.join(15)

    def run(self) -> None:
        from websockets.sync.client import connect

        delay, first = 0.25, True
        while not self.stop_flag.is_set():
            ws = None
            for port in self.ports:
                try:
                    ws = connect(
                        f"ws://127.0.0.1:{port}/ws/leads/{self.lead}/",
                        additional_headers={"Cookie": self.client(port).request_cookie()},
                        origin=f"http://127.0.0.1:{port}",
                        open_timeout=5,
                    )
                    self.connected_port = port
                    break
                except Exception:  # noqa: BLE001 - refused or failed: the next process
                    continue
            if ws is None:
                self.stop_flag.wait(delay)
                delay = min(delay * 2, 2.0)
                continue
            delay = 0.25
            self.note("connected", self.connected_port)
            if not first:
                self.reconnects += 1
            # The page's state now (first open: the page itself; after a drop: the catch-up).
            self.read_region(self.connected_port, "opened" if first else "caught up")
            first = False
            try:
                with ws:
                    while not self.stop_flag.is_set():
                        try:
                            message = ws.recv(timeout=0.5)
                        except TimeoutError:
                            continue
                        if isinstance(message, bytes):
                            message = message.decode()
                        if htmx.load_fetches(message):
                            self.read_region(self.connected_port, "pushed")
            except Exception as exc:  # noqa: BLE001 - dropped
                self.drops += 1
                self.note("dropped", type(exc).__name__)
            self.connected_port = None


# --- the suite -----------------------------------------------------------------------------------
class Suite:
    def __init__(self, workdir: Path, keep: bool) -> None:
        self.workdir = workdir
        self.keep = keep
        self.tmp = Path(tempfile.mkdtemp(prefix="chaos-", dir=workdir))
        self.tmp.chmod(0o755)
        self.postgres = Postgres(self.tmp / "pg", free_port(), self.tmp / "postgres.log")
        self.redis = Redis(free_port(), self.tmp / "redis.log")
        self.stack = Stack(
            self.tmp,
            self.postgres,
            self.redis,
            DATABASE,
            [free_port(), free_port()],
            settings_module="loadtest.chaos_settings",
            extra_env=dict(SETTINGS),
        )
        self.receiver = Receiver()
        self.token = ""
        self.rep = "chaos_rep"
        self.rep_id = 0
        self.rep_cookies: dict[str, str] = {}
        self.live_leads: list[str] = []

    # --- set-up -----------------------------------------------------------------------------
    def live_urls(self) -> list[str]:
        urls = [
            url
            for name, url in zip(self.stack.names, self.stack.urls, strict=False)
            if self.stack.services.get(name) is None or self.stack.services[name].alive()
        ]
        return urls or self.stack.urls

    def django(self) -> None:
        """This process reads the database through the app's models, as the stack sees it."""
        os.environ.update(self.stack.env)
        import django

        django.setup()

    def set_up(self) -> None:
        log(f"==> own PostgreSQL and Redis (in {self.tmp})")
        self.postgres.init()
        self.postgres.start()
        self.postgres.execute(f'CREATE DATABASE "{DATABASE}"')
        self.redis.start()
        self.stack.prepare_database()
        self.django()
        from django.contrib.auth.models import Group
        from django_celery_beat.models import IntervalSchedule, PeriodicTask

        from activities.models import WebhookSubscription
        from crm import tokens
        from crm.models import User
        from crm.roles import Role

        def user(username, role=None, superuser=False):
            u = User.objects.create(
                username=username, first_name=username, email=f"{username}@example.org"
            )
            u.set_password(PASSWORD)
            u.is_superuser = u.is_staff = superuser
            u.save()
            if role:
                u.groups.add(Group.objects.get(name=role.value))
            return u

        manager = user("chaos_manager", Role.MANAGER)
        rep = user(self.rep, Role.SALES_REP)
        user("chaos_admin", superuser=True)
        self.rep_id = rep.pk
        self.token = tokens.token_create(by=manager, name="chaos")[1]
        WebhookSubscription.objects.create(
            name="chaos receiver", url=self.receiver.url, events=["lead.created", "lead.assigned"]
        )
        for name, seconds in [
            ("Re-dispatch unprocessed events", REDISPATCH_EVERY),
            ("Retry webhook deliveries", 5),
            ("Worker heartbeat", 5),
        ]:
            every, _ = IntervalSchedule.objects.get_or_create(every=seconds, period="seconds")
            PeriodicTask.objects.filter(name=name).update(interval=every)
        log(
            f"  settings: re-dispatch after {REDISPATCH_AFTER} s every {REDISPATCH_EVERY} s, "
            f"backoff from 1 s, {MAX_ATTEMPTS} attempts, webhook sweep every 5 s"
        )
        log("==> stack: 2 × daphne, celery worker, celery beat (DEBUG=0)")
        self.stack.start()
        self.stack.wait_healthy()
        api = Client(self.stack.urls[0], token=self.token)
        for i in range(4):
            response = api.request(
                "set-up",
                "POST",
                "/api/v1/leads/",
                json={"name": f"Live lead {i}", "source": "web", "assigned_to": self.rep_id},
            )
            self.live_leads.append(response.json()["id"])
        browser = Client(self.stack.urls[0])
        browser.sign_in(self.rep, PASSWORD)
        self.rep_cookies = dict(browser.cookies)
        self.wait_outbox(timeout=60)

    def tear_down(self) -> None:
        with contextlib.suppress(Exception):
            self.receiver.stop()
        self.stack.stop()
        self.redis.stop()
        with contextlib.suppress(Exception):
            self.postgres.stop("immediate")
        if not self.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            log(f"  kept {self.tmp}")

    # --- the database, as the app sees it ---------------------------------------------------------
    def orm(self):
        from django.db import connection

        connection.close_if_unusable_or_obsolete()
        return connection

    def last_event_id(self) -> int:
        from crm.models import Event

        self.orm()
        return Event.objects.order_by("-pk").values_list("pk", flat=True).first() or 0

    def outbox(self, since: int = 0) -> Counter:
        from crm.models import Event

        self.orm()
        return Counter(Event.objects.filter(pk__gt=since).values_list("status", flat=True))

    def wait_outbox(self, since: int = 0, timeout: float = 120) -> tuple[bool, float]:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            try:
                counts = self.outbox(since)
                if not counts.get("pending") and not counts.get("failed"):
                    return True, time.monotonic() - started
            except Exception:  # noqa: BLE001 - the database may be restarting
                pass
            time.sleep(1)
        return False, time.monotonic() - started

    def healthz(self, url: str | None = None) -> tuple[int, dict]:
        try:
            return self.stack.healthz(url or self.live_urls()[0], timeout=HANG_LIMIT)
        except Exception as exc:  # noqa: BLE001
            return 0, {"error": str(exc)}

    def wait_healthy(self, timeout: float = 90) -> float:
        started = time.monotonic()
        wait_until(
            lambda: all(self.healthz(u)[0] == 200 for u in self.stack.urls),
            timeout=timeout,
            what="/healthz",
        )
        return time.monotonic() - started

    # --- side effects of the leads created by the load --------------------------------------------
    def side_effects(self, scenario: Scenario, leads: list[str], since: int) -> None:
        """Each lead: one welcome task, one assignment notification; each of its events: one
        webhook delivery per subscription, received by id."""
        from activities.models import Activity, WebhookDelivery
        from crm.models import Event, HandlerRun, Notification

        self.orm()
        welcome = Counter(
            str(x)
            for x in Activity.objects.filter(
                lead_id__in=leads, is_system_activity=True, subject__startswith="Welcome & review"
            ).values_list("lead_id", flat=True)
        )
        missing = [lead for lead in leads if welcome[lead] == 0]
        twice = [lead for lead in leads if welcome[lead] > 1]
        scenario.verified(
            not missing and not twice,
            f"welcome tasks: {len(leads) - len(missing) - len(twice)}/{len(leads)} leads have "
            f"exactly one ({len(missing)} missing, {len(twice)} twice)",
        )
        urls = Counter(
            Notification.objects.filter(user_id=self.rep_id, kind="assignment").values_list(
                "url", flat=True
            )
        )
        notes = Counter({lead: urls.get(f"/leads/{lead}/", 0) for lead in leads})
        missing = [lead for lead in leads if notes[lead] == 0]
        twice = [lead for lead in leads if notes[lead] > 1]
        scenario.verified(
            not missing and not twice,
            f"assignment notifications: {len(leads) - len(missing) - len(twice)}/{len(leads)} "
            f"exactly once ({len(missing)} missing, {len(twice)} twice)",
        )
        events = list(
            Event.objects.filter(
                pk__gt=since, name__in=["lead.created", "lead.assigned"]
            ).values_list("pk", "payload")
        )
        events = [pk for pk, payload in events if (payload or {}).get("lead_id") in set(leads)]
        deliveries = Counter(
            WebhookDelivery.objects.filter(event_id__in=events).values_list("event_id", flat=True)
        )
        ids = {
            str(x)
            for x in WebhookDelivery.objects.filter(event_id__in=events).values_list(
                "pk", flat=True
            )
        }
        once = sum(1 for e in events if deliveries[e] == 1)
        scenario.verified(
            once == len(events),
            f"webhook deliveries: {once}/{len(events)} events have exactly one",
        )
        deadline = time.monotonic() + 170  # a delivery claimed by a killed worker: 2 min
        while time.monotonic() < deadline:
            with self.receiver.lock:
                unseen = [d for d in ids if self.receiver.by_id[d] == 0]
            if not unseen:
                break
            time.sleep(2)
        with self.receiver.lock:
            received = {d: self.receiver.by_id[d] for d in ids}
        resent = sum(n - 1 for n in received.values() if n > 1)
        scenario.verified(
            all(n >= 1 for n in received.values()),
            f"webhook receiver: {sum(1 for n in received.values() if n)}/{len(ids)} delivery ids "
            f"received ({resent} sent again with the same id, which a receiver drops)",
        )
        bad = HandlerRun.objects.filter(event_id__gt=since).exclude(status="succeeded")
        scenario.verified(
            not bad.exists(),
            f"handler runs: none failed, dead or left running ({bad.count()} found)",
        )

    def slowest(self, calls: list[Call]) -> float:
        return max((c.seconds for c in calls), default=0.0)

    @staticmethod
    def slow_kinds(calls: list[Call], limit: float = 1.0) -> str:
        """ "kind max s (n over limit)" for the kinds with calls slower than ``limit``."""
        worst: dict[str, list[float]] = defaultdict(list)
        for c in calls:
            if c.seconds > limit:
                worst[c.kind].append(c.seconds)
        return ", ".join(
            f"{k} {max(v):.1f} s ({len(v)} over {limit:.0f} s)" for k, v in sorted(worst.items())
        )

    # --- scenarios --------------------------------------------------------------------------------
    def scenario_worker_kill(self) -> bool:
        s = Scenario(1, "SIGKILL the Celery worker in the middle of 200+ events")
        since = self.last_event_id()
        load = Load(self, writers=3, pace=0.1)
        load.start()
        wait_until(lambda: len(load.created) >= 60, timeout=120, what="60 leads written")
        worker = self.stack.services["worker"]
        pending = self.outbox(since)
        worker.kill()
        s.did(
            f"SIGKILL to the worker's process group (pid {worker.pid}) after "
            f"{len(load.created)} leads, with {pending.get('pending', 0)} of "
            f"{sum(pending.values())} events pending"
        )
        time.sleep(3)
        self.stack.start("worker")
        s.did(f"started a new worker (pid {self.stack.services['worker'].pid}) 3 s later")
        wait_until(lambda: len(load.created) >= 110, timeout=180, what="110 leads written")
        load.stop()
        leads = list(load.created)
        total = sum(self.outbox(since).values())
        s.did(f"stopped the writes: {len(leads)} leads, {total} events")
        s.verified(total >= 200, f"{total} events in the outbox during the scenario (≥ 200)")
        failed = [c for c in load.calls.items if c.kind == "api write" and c.status != 201]
        s.verified(not failed, f"writes while the worker was down: {len(failed)} refused")
        drained, seconds = self.wait_outbox(since, timeout=180)
        counts = self.outbox(since)
        s.verified(
            drained and set(counts) <= {"processed"},
            f"outbox: every event processed {seconds:.0f} s after the writes stopped "
            f"(re-dispatch after {REDISPATCH_AFTER} s): {dict(counts)}",
        )
        self.side_effects(s, leads, since)
        return s.done()

    def scenario_redis_stop(self) -> bool:
        s = Scenario(2, "Stop Redis for 30 s")
        since = self.last_event_id()
        viewers = [Viewer(self, lead, self.stack.web_ports) for lead in self.live_leads]
        for viewer in viewers:
            viewer.start()
        wait_until(
            lambda: all(v.connected_port for v in viewers), timeout=30, what="viewers connected"
        )
        load = Load(self, writers=2, pace=0.3)
        load.start()
        time.sleep(3)
        self.redis.stop()
        down_at = time.monotonic()
        s.did(f"stopped redis-server (port {self.redis.port}); writes, reads and pages go on")
        health: list[tuple[int, dict]] = []
        pending_seen = []
        while time.monotonic() - down_at < 30:
            health.append(self.healthz())
            pending_seen.append(self.outbox(since).get("pending", 0))
            time.sleep(2)
        self.redis.start()
        up_at = time.monotonic()
        s.did(f"started redis-server again on port {self.redis.port} (empty) after 30 s")
        during = load.calls.between(down_at, up_at)
        kinds = Counter(c.kind for c in during)
        bad = [c for c in during if not 200 <= c.status < 300]
        s.verified(
            bool(during) and not bad,
            f"during the outage {len(during)} requests ({dict(kinds)}), "
            f"{len(bad)} not 2xx {Counter((c.kind, c.status) for c in bad) or ''}".strip(),
        )
        slowest = self.slowest(during)
        s.verified(
            slowest <= HANG_LIMIT,
            f"slowest request {slowest:.2f} s (≤ {HANG_LIMIT} s) {self.slow_kinds(during)}".strip(),
        )
        named = [
            code == 503
            and not body.get("checks", {}).get("cache", {}).get("ok", True)
            and not body.get("checks", {}).get("broker", {}).get("ok", True)
            for code, body in health[1:]
        ]
        s.verified(
            bool(named) and all(named),
            f"/healthz during the outage: {Counter(code for code, _ in health)} — 503 with "
            f"cache and broker not ok in {sum(named)}/{len(named)} polls after the first",
        )
        s.verified(
            max(pending_seen, default=0) > 0,
            f"events waited in the outbox (up to {max(pending_seen, default=0)} pending)",
        )
        time.sleep(5)
        load.stop()
        leads = list(load.created)
        for name in ("worker", "beat", "web1", "web2"):
            s.verified(self.stack.services[name].alive(), f"{name} still running")
        drained, seconds = self.wait_outbox(since, timeout=120)
        s.verified(drained, f"outbox drained {seconds:.0f} s after the writes stopped")
        healthy = self.wait_healthy(timeout=60)
        s.verified(True, f"/healthz 200 again {healthy:.0f} s later (heartbeat rewritten)")
        self.side_effects(s, leads, since)
        time.sleep(2)
        for viewer in viewers:
            viewer.stop()
        self.check_viewers(s, viewers, load, expect_reconnect=True)
        return s.done()

    def check_viewers(self, s: Scenario, viewers: list[Viewer], load: Load, *, expect_reconnect):
        for viewer in viewers:
            last = load.last_stamp(viewer.lead)
            if expect_reconnect:
                s.verified(
                    viewer.reconnects >= 1,
                    f"viewer of {viewer.lead[:8]}: dropped {viewer.drops}×, reconnected "
                    f"{viewer.reconnects}× (last on port {viewer.connected_port or '-'})",
                )
            s.verified(
                last is None or viewer.shown >= last,
                f"viewer of {viewer.lead[:8]}: shows the last change (RT {viewer.shown} vs "
                f"last written {last})",
            )

    def scenario_postgres_restart(self) -> bool:
        s = Scenario(3, "Restart PostgreSQL")
        since = self.last_event_id()
        pids = {name: service.pid for name, service in self.stack.services.items()}
        mark = self.mark_logs()
        load = Load(self, writers=2, pace=0.2)
        load.start()
        time.sleep(3)
        self.postgres.stop("fast")
        down_at = time.monotonic()
        s.did("pg_ctl stop -m fast; the server stays down 6 s")
        probes = []
        while time.monotonic() - down_at < 6:
            probes.append(self.probe_unavailable())
            time.sleep(0.5)
        self.postgres.start()
        up_at = time.monotonic()
        s.did("pg_ctl start")
        during = load.calls.between(down_at, up_at - 0.5)
        statuses = Counter(c.status for c in during)
        s.verified(
            bool(during) and set(statuses) <= {503},
            f"requests while it was down: {dict(statuses)} (all 503 expected)",
        )
        envelopes = [c for c in during if c.kind.startswith("api") or c.kind == "htmx rows"]
        enveloped = [
            c for c in envelopes if '"code": "service_unavailable"' in c.body.replace('":"', '": "')
        ]
        s.verified(
            len(enveloped) == len(envelopes),
            f"API and htmx answers with the error envelope: {len(enveloped)}/{len(envelopes)}",
        )
        s.verified(
            all(probes),
            f"page, htmx region and API probes: 503 with the right body ({len(probes)})",
        )
        slowest = self.slowest(during)
        s.verified(slowest <= 2.0, f"they failed fast: slowest {slowest:.2f} s (≤ 2 s)")
        recovered = self.first_success_after(load, up_at)
        s.verified(
            recovered is not None and recovered < 10,
            f"first successful write {recovered if recovered is None else round(recovered, 1)} s "
            "after the server was back",
        )
        time.sleep(8)
        load.stop()
        after = load.calls.between(up_at + 3, time.monotonic())
        bad_after = [c for c in after if not 200 <= c.status < 300]
        s.verified(
            bool(after) and not bad_after,
            f"after recovery: {len(after)} requests, {len(bad_after)} failed",
        )
        same = {name: service.pid for name, service in self.stack.services.items()} == pids
        alive = all(service.alive() for service in self.stack.services.values())
        s.verified(same and alive, "the same app processes serve (no restart), all alive")
        errors = self.tracebacks_since(mark)
        s.verified(not errors, f"no traceback in the web logs meanwhile ({len(errors)} found)")
        drained, seconds = self.wait_outbox(since, timeout=120)
        s.verified(drained, f"outbox drained {seconds:.0f} s after the writes stopped")
        self.side_effects(s, list(load.created), since)
        return s.done()

    def probe_unavailable(self) -> bool:
        """A page, an htmx region and an API call now: each a 503 with its kind of body."""
        base = self.live_urls()[0]
        browser = Client(base)
        browser.cookies = dict(self.rep_cookies)
        page = browser.request("probe", "GET", "/leads/")
        region = browser.request("probe", "GET", "/leads/", htmx_target="rows")
        api = Client(base, token=self.token).request("probe", "GET", "/api/v1/leads/")
        ok = (
            page is not None
            and page.status_code == 503
            and "briefly unavailable" in page.text
            and region is not None
            and region.status_code == 503
            and region.json()["error"]["code"] == "service_unavailable"
            and api is not None
            and api.status_code == 503
            and api.json()["error"]["code"] == "service_unavailable"
            and "trace_id" in api.json()["error"]
        )
        return ok

    def first_success_after(self, load: Load, at: float) -> float | None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            ok = [
                c
                for c in load.calls.between(at, time.monotonic())
                if c.kind == "api write" and c.status == 201
            ]
            if ok:
                return min(c.started + c.seconds for c in ok) - at
            time.sleep(0.5)
        return None

    def tracebacks_since(self, since: float) -> list[str]:
        found = []
        for name in ("web1", "web2"):
            path = self.stack.services[name].logfile
            text = path.read_text(errors="replace")
            marker = f"--- mark {since}"
            found.extend(
                line for line in text.split(marker)[-1].splitlines() if "Traceback" in line
            )
        return found

    def mark_logs(self) -> float:
        now = time.monotonic()
        for name in ("web1", "web2"):
            with open(self.stack.services[name].logfile, "a") as handle:
                handle.write(f"\n--- mark {now}\n")
        return now

    def scenario_asgi_kill(self) -> bool:
        s = Scenario(4, "SIGKILL the ASGI process holding the websockets")
        web1, web2 = self.stack.web_ports
        viewers = [Viewer(self, lead, [web1, web2]) for lead in self.live_leads for _ in range(2)]
        for viewer in viewers:
            viewer.start()
        wait_until(
            lambda: all(v.connected_port == web1 for v in viewers),
            timeout=30,
            what="viewers on web1",
        )
        s.did(f"{len(viewers)} viewers on live leads' pages, all on web1 (port {web1})")
        load = Load(self, writers=1, pace=0.5)
        load.start()
        time.sleep(4)
        self.stack.services["web1"].kill()
        killed_at = time.time()
        s.did("SIGKILL to web1; the stamps go on through web2")
        wait_until(
            lambda: all(v.connected_port == web2 for v in viewers),
            timeout=30,
            what="viewers on web2",
        )
        moved = time.time() - killed_at
        s.did(f"every viewer reconnected to web2 within {moved:.1f} s")
        time.sleep(6)
        load.stop()
        time.sleep(2)
        for viewer in viewers:
            viewer.stop()
        for viewer in viewers:
            caught = [t for t, what, _ in viewer.history if what == "caught up" and t > killed_at]
            s.verified(
                bool(caught),
                f"viewer of {viewer.lead[:8]}: re-read its page on reconnecting",
            )
            # Every stamp written after the catch-up reached it (it shows the last one), and
            # what was written while it was away was on screen right after the catch-up.
            if caught:
                shown_then, read_at = next(
                    d for t, what, d in viewer.history if what == "caught up" and t > killed_at
                )
                before = load.last_stamp(viewer.lead, before=read_at * 1000)
                s.verified(
                    before is None or shown_then >= before,
                    f"viewer of {viewer.lead[:8]}: after the catch-up it showed RT {shown_then} "
                    f"(written before it: {before})",
                )
        self.check_viewers(s, viewers, load, expect_reconnect=False)
        self.stack.start("web1")
        s.did("started web1 again")
        self.wait_healthy(timeout=60)
        return s.done()

    def scenario_poison(self) -> bool:
        s = Scenario(5, "A poison event: a handler that always raises")
        from crm.models import Event, HandlerRun

        load = Load(self, writers=1, pace=0.3)
        load.start()
        api = Client(self.live_urls()[0], token=self.token)
        lead = api.request(
            "poison", "POST", "/api/v1/leads/", json={"name": "POISON lead", "source": "web"}
        ).json()
        since = self.last_event_id()
        api.request("poison", "PATCH", f"/api/v1/leads/{lead['id']}/", json={"priority": "high"})
        s.did("updated a lead named POISON…: its lead.updated event meets loadtest.poison")
        self.orm()
        event = (
            Event.objects.filter(pk__gt=since, name="lead.updated", payload__lead_id=lead["id"])
            .order_by("pk")
            .first()
        )
        if not s.verified(event is not None, "the event is in the outbox"):
            load.stop()
            return s.done()
        key = "loadtest.poison.apps.poison_handler"
        attempts: list[tuple[float, int]] = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            self.orm()
            run = HandlerRun.objects.filter(event=event, handler=key).first()
            if run and (not attempts or attempts[-1][1] != run.attempts):
                attempts.append((time.monotonic(), run.attempts))
            if run and run.status == "dead":
                break
            time.sleep(0.25)
        self.orm()
        later = Event.objects.filter(pk__gt=event.pk)
        handled_meanwhile = later.filter(status="processed").count()
        load.stop()
        event.refresh_from_db()
        run = HandlerRun.objects.get(event=event, handler=key)
        gaps = [round(b[0] - a[0], 1) for a, b in zip(attempts, attempts[1:], strict=False)]
        backoff = [2**k for k in range(len(gaps))]  # EVENT_RETRY_BACKOFF=1, doubling
        s.verified(
            run.status == "dead" and run.attempts == MAX_ATTEMPTS and event.status == "dead",
            f"the handler ran {run.attempts}× then was marked dead; the event is {event.status}",
        )
        s.verified(
            len(gaps) == MAX_ATTEMPTS - 1
            and all(g >= b - 0.3 for g, b in zip(gaps, backoff, strict=False)),
            f"retried with backoff: {gaps} s between attempts, each at least {backoff} s "
            f"(plus the wait for the next re-dispatch, every {REDISPATCH_EVERY} s)",
        )
        others = HandlerRun.objects.filter(event=event).exclude(handler=key)
        s.verified(
            others.exists() and all(r.status == "succeeded" and r.attempts == 1 for r in others),
            f"its other {others.count()} handlers ran once each and succeeded",
        )
        s.verified(
            handled_meanwhile > 0,
            f"while it failed, {handled_meanwhile} events written after it were handled",
        )
        deadline = time.monotonic() + 60
        while later.exclude(status="processed").exists() and time.monotonic() < deadline:
            time.sleep(1)
        stuck = later.exclude(status="processed").count()
        s.verified(
            later.exists() and stuck == 0,
            f"all {later.count()} events written after it were handled ({stuck} not)",
        )
        admin = Client(self.live_urls()[0])
        admin.sign_in("chaos_admin", PASSWORD)
        page = admin.request("admin", "GET", "/admin/crm/event/?status__exact=dead")
        s.verified(
            page is not None
            and page.status_code == 200
            and f"/admin/crm/event/{event.pk}/" in page.text,
            "the admin's event list, filtered on dead, shows it",
        )
        detail = admin.request("admin", "GET", f"/admin/crm/event/{event.pk}/change/")
        s.verified(
            detail is not None and "poison handler: refusing event" in detail.text,
            "its page shows the handler's error",
        )
        return s.done()

    def scenario_redis_hang(self) -> bool:
        s = Scenario(6, "Redis hangs (SIGSTOP) for 15 s: nothing waits longer than the timeouts")
        since = self.last_event_id()
        load = Load(self, writers=2, pace=0.3)
        load.start()
        time.sleep(3)
        self.redis.freeze()
        hung_at = time.monotonic()
        s.did("SIGSTOP to redis-server: its port accepts connections, nothing answers")
        health = []
        while time.monotonic() - hung_at < 15:
            started = time.monotonic()
            health.append((*self.healthz(), time.monotonic() - started))
            time.sleep(2)
        self.redis.thaw()
        thawed_at = time.monotonic()
        s.did("SIGCONT: Redis answers again (nothing was lost from it)")
        during = load.calls.between(hung_at, thawed_at)
        bad = [c for c in during if not 200 <= c.status < 300]
        s.verified(
            bool(during) and not bad,
            f"while it hung: {len(during)} requests, {len(bad)} not 2xx "
            f"{Counter((c.kind, c.status) for c in bad) or ''}".strip(),
        )
        slowest = self.slowest(during)
        s.verified(
            slowest <= HANG_LIMIT,
            f"slowest request {slowest:.2f} s (≤ {HANG_LIMIT} s) {self.slow_kinds(during)}".strip(),
        )
        slow_health = max((t for *_, t in health), default=0)
        s.verified(
            all(code == 503 for code, _, _ in health[1:]) and slow_health <= HANG_LIMIT,
            f"/healthz answered {Counter(code for code, _, _ in health)}, "
            f"in at most {slow_health:.1f} s",
        )
        time.sleep(5)
        load.stop()
        for name in ("worker", "beat", "web1", "web2"):
            s.verified(self.stack.services[name].alive(), f"{name} still running")
        drained, seconds = self.wait_outbox(since, timeout=120)
        s.verified(drained, f"outbox drained {seconds:.0f} s after the writes stopped")
        self.side_effects(s, list(load.created), since)
        return s.done()


SCENARIOS = {
    1: Suite.scenario_worker_kill,
    2: Suite.scenario_redis_stop,
    3: Suite.scenario_postgres_restart,
    4: Suite.scenario_asgi_kill,
    5: Suite.scenario_poison,
    6: Suite.scenario_redis_hang,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest chaos", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--only", help="scenarios to run, e.g. 1,3 (default: all)")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--keep", action="store_true", help="keep the cluster and the logs")
    args = parser.parse_args(argv)
    chosen = sorted(int(x) for x in args.only.split(",")) if args.only else sorted(SCENARIOS)
    args.workdir.mkdir(parents=True, exist_ok=True)
    suite = Suite(args.workdir.resolve(), args.keep)
    results: dict[int, bool] = {}
    started = time.monotonic()
    try:
        suite.set_up()
        for number in chosen:
            suite.mark_logs()
            try:
                results[number] = SCENARIOS[number](suite)
            except Exception:  # noqa: BLE001 - report it, go on with the next one
                traceback.print_exc()
                log(f"  --> scenario {number} FAILED: it raised")
                results[number] = False
            for name in suite.stack.names:
                if not suite.stack.services[name].alive():
                    log(f"  ({name} had exited: started again for the next scenario)")
                    suite.stack.start(name)
    except Exception:
        traceback.print_exc()
        suite.stack.tail()
        results.setdefault(0, False)
    finally:
        if not all(results.values()):
            suite.keep = True
            suite.stack.tail(30)
        suite.tear_down()
    log("\n==> fault suite")
    for number, ok in sorted(results.items()):
        title = SCENARIOS[number].__name__.removeprefix("scenario_") if number else "set-up"
        log(f"  {number}. {title:<20} {'PASSED' if ok else 'FAILED'}")
    log(f"  {time.monotonic() - started:.0f} s in all")
    return 0 if results and all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
