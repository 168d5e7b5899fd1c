"""PipeCRM under load: four kinds of user (issue 21), run by ``python -m loadtest run`` against
the production-mode stack, or by hand::

    LOADTEST_FIXTURE=fixture.json LOADTEST_HOSTS=http://127.0.0.1:8001,http://127.0.0.1:8002 \\
        locust -f loadtest/locustfile.py --headless -u 100 -r 10 -t 60s --reset-stats

- ``SalesRep`` — a rep in the browser, signed in (session cookie, CSRF token): the leads
  table, then filtered by a step and sorted by score (the rows region, as the filter bar's
  htmx request); a lead's page and the regions it loads by itself (timeline, lead
  intelligence, AI insights, overdue badge), logging an activity with the timeline's quick-log
  form; the board, moving one of their cards one step along the workflow; the notification
  menu and page.
- ``Manager`` — the boards of leads and deals, the table filtered by custom fields and sorted,
  bulk-assigning 20 leads of a page to a rep.
- ``Integration`` — a system on the REST API with its token: creates leads (one in five with
  the email of an existing lead: a duplicate), lists them with filters, updates and moves the
  leads it created.
- ``LiveViewer`` — a board or a live lead's page left open: the page, its notifications
  socket and its board or record socket, held for the whole run (re-opened with backoff when
  dropped, then the page region re-fetched: the catch-up). A record socket's change makes
  the page re-fetch its region, as htmx does.
- ``RealtimeWriter`` (one) — stamps a live lead's company with ``RT <ms>`` through the API
  every second; each viewer that receives a fragment showing a stamp for the first time
  records the delay from the stamp to its receipt (on a board: the card pushed over the
  socket; on a lead page: the region re-fetched after the socket's signal, i.e. until the
  user sees it). The delays are written to ``LOADTEST_REALTIME_OUT`` when the run stops.

Sessions: every user of one account shares that account's session (signed in once per
process), so that a ramp-up of 100 users is not 100 password hashes; the sockets use the
websockets library's synchronous client (installed with uvicorn[standard], a dev
dependency), which Locust's gevent makes cooperative.

Hosts: ``LOADTEST_HOSTS`` lists the ASGI processes; users are spread over them in turn, as a
proxy in front would.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import time
import uuid
from collections import defaultdict
from urllib.parse import urlencode

import gevent
from gevent.lock import Semaphore
from locust import FastHttpUser, between, constant_pacing, events, task
from locust.exception import StopUser

from loadtest import htmx

FIXTURE: dict = {}
HOSTS: list[str] = []
_host_turn = itertools.count()
_sessions: dict[str, dict[str, str]] = {}
_session_locks: dict[str, Semaphore] = defaultdict(Semaphore)
# Realtime: delays (ms) by surface, and errors of the sockets by kind.
DELAYS: dict[str, list[float]] = defaultdict(list)
SOCKET_ERRORS: dict[str, int] = defaultdict(int)
_running = True


def _load() -> None:
    global FIXTURE, HOSTS
    path = os.environ.get("LOADTEST_FIXTURE")
    if path and not FIXTURE:
        with open(path) as handle:
            FIXTURE = json.load(handle)
    HOSTS = [h.rstrip("/") for h in os.environ.get("LOADTEST_HOSTS", "").split(",") if h.strip()]


_load()


@events.test_start.add_listener
def _started(environment, **kwargs):
    global _running
    _running = True
    DELAYS.clear()
    SOCKET_ERRORS.clear()


@events.spawning_complete.add_listener
def _reset(user_count, **kwargs):
    # Locust resets its statistics once every user is running (--reset-stats): the realtime
    # figures cover the same window as the request figures.
    DELAYS.clear()
    SOCKET_ERRORS.clear()


@events.test_stopping.add_listener
def _stopping(environment, **kwargs):
    global _running
    _running = False


@events.quitting.add_listener
def _write_realtime(environment, **kwargs):
    out = os.environ.get("LOADTEST_REALTIME_OUT")
    if out:
        with open(out, "w") as handle:
            json.dump({"delays": DELAYS, "errors": SOCKET_ERRORS}, handle)


def _next_host(default: str | None) -> str:
    if HOSTS:
        return HOSTS[next(_host_turn) % len(HOSTS)]
    return (default or "").rstrip("/")


class Browser(FastHttpUser):
    """A signed-in browser: the account's session cookie, htmx's headers, the CSRF token."""

    abstract = True
    accounts_key = "reps"
    # Locust measures what the server answers: a ramp-up is not part of the figures
    # (--reset-stats), and a slow answer is a slow answer, not a timeout of its own.
    network_timeout = 60.0
    connection_timeout = 10.0

    def __init__(self, environment):
        self.host = _next_host(environment.host)
        super().__init__(environment)
        self.account = random.choice(FIXTURE[self.accounts_key])
        self.cookie = ""
        self.csrf = ""

    # --- session ------------------------------------------------------------------------
    def on_start(self) -> None:
        self.sign_in()

    def sign_in(self) -> None:
        username = self.account["username"]
        with _session_locks[username]:
            session = _sessions.get(username)
            if session is None:
                session = self._log_in(username)
                _sessions[username] = session
        self.cookie = "; ".join(f"{k}={v}" for k, v in session.items())
        self.csrf = session.get("csrftoken", "")

    def _log_in(self, username: str) -> dict[str, str]:
        cookies: dict[str, str] = {}
        with self.client.get(
            "/accounts/login/", name="auth: login page", catch_response=True
        ) as page:
            cookies.update(_cookies(page))
        body = urlencode(
            {
                "username": username,
                "password": FIXTURE["password"],
                "csrfmiddlewaretoken": cookies.get("csrftoken", ""),
            }
        )
        with self.client.post(
            "/accounts/login/",
            name="auth: sign in",
            data=body,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": _cookie_header(cookies),
                "Origin": self.host,
                "Referer": self.host + "/accounts/login/",
            },
            allow_redirects=False,
            catch_response=True,
        ) as response:
            cookies.update(_cookies(response))
            if response.status_code != 302 or "sessionid" not in cookies:
                response.failure(f"sign-in refused ({response.status_code})")
                raise StopUser()
        return cookies

    # --- requests -----------------------------------------------------------------------
    def headers(self, *, target: str | None = None, current: str | None = None) -> dict:
        headers = {"Cookie": self.cookie}
        if target is not None:
            headers.update({"HX-Request": "true", "HX-Current-URL": self.host + (current or "/")})
            if target:  # htmx sends none for a target without an id
                headers["HX-Target"] = target
        return headers

    def get(self, path: str, name: str, *, target: str | None = None, current=None) -> str:
        """GET as the page or as an htmx region (``target``); the HTML, or "" on failure."""
        with self.client.get(
            path,
            name=name,
            headers=self.headers(target=target, current=current),
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(_why(response))
                return ""
            return response.text or ""

    def post(
        self,
        path: str,
        name: str,
        fields,
        *,
        target: str | None = None,
        current=None,
        ok=(200, 204),
    ):
        headers = self.headers(target=target or "", current=current)
        headers.update(
            {
                "X-CSRFToken": self.csrf,
                "Origin": self.host,
                "Content-Type": "application/x-www-form-urlencoded",
            }
        )
        with self.client.post(
            path,
            name=name,
            data=urlencode(fields, doseq=True),
            headers=headers,
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code not in ok:
                response.failure(_why(response))
                return None
            return response

    def page(self, path: str, name: str, fragments: str = "") -> str:
        """A full page, then the regions it loads by itself (``hx-trigger="load"``)."""
        html = self.get(path, name)
        for fetch in htmx.load_fetches(html):
            self.get(
                fetch.url,
                fragments or f"htmx: {_region_name(fetch.url)}",
                target=fetch.target,
                current=path,
            )
        return html


def _why(response) -> str:
    location = response.headers.get("Location", "") if response.headers else ""
    text = (response.text or "")[:200].replace("\n", " ")
    return f"{response.status_code} {location or text}".strip()


def _cookies(response) -> dict[str, str]:
    found = {}
    headers = response.headers
    values = []
    if hasattr(headers, "get_all"):
        values = headers.get_all("Set-Cookie") or []
    elif hasattr(headers, "getlist"):
        values = headers.getlist("Set-Cookie")
    else:
        raw = headers.get("Set-Cookie")
        values = [raw] if raw else []
    for value in values:
        pair = value.split(";", 1)[0]
        if "=" in pair:
            key, _, val = pair.partition("=")
            found[key.strip()] = val.strip()
    return found


def _cookie_header(cookies: dict[str, str]) -> str:
    return "; ".join(f"{k}={v}" for k, v in cookies.items())


_REGION_NAMES = {
    "/activities/timeline/": "timeline",
    "/activities/badge/": "overdue badge",
    "/ai/": "lead intelligence / AI panels",
    "/notifications/count/": "notification count",
    "/leads/board/column/": "board column",
}


def _region_name(url: str) -> str:
    path = url.split("?", 1)[0]
    for prefix, name in _REGION_NAMES.items():
        if path.startswith(prefix):
            return name
    parts = [p for p in path.split("/") if p and not _looks_like_id(p)]
    return " ".join(parts) or path


def _looks_like_id(part: str) -> bool:
    return part.isdigit() or (len(part) == 36 and part.count("-") == 4)


def _safe_move(card: htmx.Card) -> int | None:
    targets = FIXTURE["workflow"]["moves"].get(str(card.step)) or []
    return random.choice(targets) if targets else None


# --- Sales Reps --------------------------------------------------------------------------------
class SalesRep(Browser):
    weight = 10
    wait_time = between(2, 6)
    accounts_key = "reps"

    def on_start(self) -> None:
        super().on_start()
        self.leads: list[str] = []

    @task(3)
    def leads_table(self) -> None:
        html = self.page("/leads/", "page: leads table")
        self.leads = htmx.lead_links(html) or self.leads
        step = random.choice(FIXTURE["workflow"]["open_steps"])
        query = urlencode({"step": step, "ordering": random.choice(["-lead_score", "name"])})
        rows = self.get(
            f"/leads/?{query}", "htmx: table rows (filter + sort)", target="rows", current="/leads/"
        )
        self.leads = htmx.lead_links(rows) or self.leads

    @task(3)
    def lead_and_activity(self) -> None:
        if not self.leads:
            self.leads_table()
        if not self.leads:
            return
        lead = random.choice(self.leads)
        path = f"/leads/{lead}/"
        html = self.page(path, "page: lead detail")
        if not html or random.random() < 0.4:
            return
        timeline = self.get(
            f"/activities/timeline/lead/{lead}/", "htmx: timeline", target="timeline", current=path
        )
        form = next((f for f in htmx.forms(timeline) if f.action.endswith("/log/")), None)
        if form is None:
            return
        fields = dict(form.fields)
        fields.update(
            {
                "type": random.choice(["call", "email", "note"]),
                "subject": f"Load test follow-up {uuid.uuid4().hex[:8]}",
                "notes": "Logged during the load test.",
            }
        )
        self.post(form.action, "htmx: log activity", fields, target="timeline", current=path)

    @task(2)
    def board_and_move(self) -> None:
        html = self.page("/leads/board/", "page: leads board")
        cards = [c for c in htmx.board_cards(html) if c.movable]
        random.shuffle(cards)
        for card in cards[:5]:
            to_step = _safe_move(card)
            if to_step is not None:
                self.post(
                    f"/leads/{card.id}/board-move/",
                    "htmx: board move",
                    {"to_step": to_step},
                    target=f"card-{card.id}",
                    current="/leads/board/",
                )
                return

    @task(1)
    def notifications(self) -> None:
        self.get("/notifications/menu/", "htmx: notification menu", target="notification-menu")
        if random.random() < 0.3:
            self.page("/notifications/", "page: notifications")


# --- Managers -------------------------------------------------------------------------------------
class Manager(Browser):
    weight = 2
    wait_time = between(3, 8)
    accounts_key = "managers"

    @task(5)
    def boards(self) -> None:
        self.page("/leads/board/", "page: leads board (manager)")
        if random.random() < 0.3:
            self.page("/deals/board/", "page: deals board")

    @task(5)
    def custom_field_table(self) -> None:
        query = random.choice(FIXTURE["custom_field_filters"])
        self.page(f"/leads/?{query}", "page: leads table, custom-field filter")
        self.get(
            f"/leads/?{query}&ordering=-estimated_value",
            "htmx: table rows (custom fields, sorted)",
            target="rows",
            current=f"/leads/?{query}",
        )

    # About one bulk assignment per manager a minute and a half: 20 assignments, each with its
    # events, welcome task and notification.
    @task(1)
    def bulk_assign(self) -> None:
        step = random.choice(FIXTURE["workflow"]["open_steps"])
        page = random.randint(1, 20)
        path = f"/leads/?step={step}&page={page}&page_size=20"
        rows = self.get(path, "htmx: table rows (bulk selection)", target="rows", current=path)
        ids = htmx.row_ids(rows)[:20]
        if len(ids) < 2:
            return
        rep = random.choice(FIXTURE["reps"])
        self.post(
            "/leads/bulk/",
            "htmx: bulk assign 20 leads",
            [("action", "assign"), ("assignee", rep["id"]), *[("ids", i) for i in ids]],
            target="bulk-form",
            current=path,
        )


# --- API integrations -----------------------------------------------------------------------------
SOURCES = ["web", "referral", "email", "event", "social", "other"]


class Integration(FastHttpUser):
    weight = 5
    wait_time = between(1, 4)
    network_timeout = 60.0
    connection_timeout = 10.0

    def __init__(self, environment):
        self.host = _next_host(environment.host)
        super().__init__(environment)
        account = random.choice(FIXTURE["integrations"])
        self.auth = {"Authorization": f"Token {account['token']}"}
        self.created: list[dict] = []

    def api(self, method: str, path: str, name: str, *, json_body=None, ok=(200,)):
        with self.client.request(
            method, path, name=name, headers=self.auth, json=json_body, catch_response=True
        ) as response:
            if response.status_code not in ok:
                response.failure(_why(response))
                return None
            try:
                return response.json()
            except ValueError:
                response.failure("not JSON")
                return None

    @task(3)
    def create_lead(self) -> None:
        n = FIXTURE["leads"]
        if random.random() < 0.2 and n:
            number = random.randrange(n)  # a benchmark lead's email: a duplicate
            email = f"contact{number}@company{number % 20011}.example"
        else:
            email = f"api-{uuid.uuid4().hex[:12]}@example.org"
        lead = self.api(
            "POST",
            "/api/v1/leads/",
            "api: create lead",
            json_body={
                "name": f"API lead {uuid.uuid4().hex[:8]}",
                "source": random.choice(SOURCES),
                "contact_name": "Api Contact",
                "contact_email": email,
                "company_name": f"Integration Co {random.randint(1, 500)}",
            },
            ok=(201,),
        )
        if lead:
            self.created.append(lead)
            del self.created[:-50]

    @task(4)
    def list_leads(self) -> None:
        query = random.choice(
            [
                "source=web&score_min=25&ordering=-lead_score&page_size=50",
                "page_size=50",
                f"step={random.choice(FIXTURE['workflow']['open_steps'])}&page_size=50",
                "search=Company+1&page_size=20",
                "cf_bench_industry=Software&cf_bench_budget_min=100000&page_size=50",
                "ordering=-created_at&page_size=50&pagination=cursor",
            ]
        )
        self.api("GET", f"/api/v1/leads/?{query}", "api: list leads (filters)")

    @task(2)
    def update_lead(self) -> None:
        if not self.created:
            return
        lead = random.choice(self.created)
        self.api(
            "PATCH",
            f"/api/v1/leads/{lead['id']}/",
            "api: update lead",
            json_body={
                "priority": random.choice(["low", "medium", "high"]),
                "description": f"Synced at {time.time():.0f}",
            },
        )

    @task(1)
    def transition_lead(self) -> None:
        if not self.created:
            return
        lead = random.choice(self.created)
        targets = FIXTURE["workflow"]["moves"].get(str(lead.get("step"))) or []
        if not targets:
            return
        moved = self.api(
            "POST",
            f"/api/v1/leads/{lead['id']}/transition/",
            "api: transition lead",
            json_body={"to_step": random.choice(targets)},
        )
        if moved:
            lead["step"] = moved.get("step")


# --- live viewers and the realtime writer -----------------------------------------------------
class LiveViewer(Browser):
    """Holds a page's sockets open and records the delay of every change it is shown."""

    weight = 3
    wait_time = constant_pacing(1)
    accounts_key = "reps"

    def on_start(self) -> None:
        if random.random() < 0.25:
            self.accounts_key = "managers"
            self.account = random.choice(FIXTURE["managers"])
        super().on_start()
        live = [
            lead
            for lead in FIXTURE["live_leads"]
            if self.accounts_key == "managers" or lead["owner"] == self.account["username"]
        ]
        if random.random() < 0.5 and live:
            self.surface = "lead page"
            self.path = f"/leads/{random.choice(live)['id']}/"
        else:
            self.surface = "board"
            self.path = "/leads/board/"
        self.seen: set[int] = set()
        self.sockets: list = []
        self.greenlets: list = []
        self.open()

    def on_stop(self) -> None:
        self.close()

    def open(self) -> None:
        """The page (its current state: what was written before is no news), then its
        sockets, each read by a greenlet of its own."""
        html = self.page(self.path, f"page: {self.surface} (live viewer)")
        self.seen.update(htmx.markers(html))
        for url in htmx.socket_urls(html):
            self.greenlets.append(gevent.spawn(self.listen, url))

    def close(self) -> None:
        for ws in list(self.sockets):
            with contextlib.suppress(Exception):  # closing a dead socket
                ws.close()
        gevent.killall(self.greenlets, block=False)

    def listen(self, url: str) -> None:
        from websockets.sync.client import connect

        ws_base = self.host.replace("http://", "ws://").replace("https://", "wss://")
        delay = 0.5
        first = True
        while _running:
            try:
                ws = connect(
                    ws_base + url,
                    additional_headers={"Cookie": self.cookie},
                    origin=self.host,
                    open_timeout=10,
                    ping_interval=20,
                    ping_timeout=30,
                    max_size=2**22,
                )
            except Exception as exc:  # noqa: BLE001 - refused, timed out: try again later
                SOCKET_ERRORS[f"connect {_socket_kind(url)}: {type(exc).__name__}"] += 1
                gevent.sleep(delay)
                delay = min(delay * 2, 10)
                continue
            self.sockets.append(ws)
            delay = 0.5
            if not first:
                # Re-opened: what changed meanwhile was not pushed; the page re-reads its
                # region (static/js/realtime.js "realtimeRefresh").
                self.catch_up()
            first = False
            try:
                with ws:
                    while _running:
                        try:
                            message = ws.recv(timeout=1)
                        except TimeoutError:
                            continue
                        self.received(message if isinstance(message, str) else message.decode())
            except Exception as exc:  # noqa: BLE001 - the socket closed
                if _running:
                    SOCKET_ERRORS[f"dropped {_socket_kind(url)}: {type(exc).__name__}"] += 1
            finally:
                if ws in self.sockets:
                    self.sockets.remove(ws)

    def received(self, message: str) -> None:
        now = time.time() * 1000
        for ms in htmx.new_delays(message, now, self.seen):
            DELAYS[f"{self.surface}: socket"].append(ms)
        for fetch in htmx.load_fetches(message):
            # A record socket's signal: the page re-fetches its region, and the user sees
            # the change once it is there.
            region = self.get(
                fetch.url, "htmx: live refresh (lead page)", target=fetch.target, current=self.path
            )
            done = time.time() * 1000
            for ms in htmx.new_delays(region, done, self.seen):
                DELAYS[f"{self.surface}: on screen"].append(ms)

    def catch_up(self) -> None:
        target = "board" if self.surface == "board" else "lead-main"
        html = self.get(self.path, f"htmx: catch-up ({self.surface})", target=target)
        self.seen.update(htmx.markers(html))

    @task
    def hold(self) -> None:
        """The viewer only watches: its sockets' greenlets do the work."""


def _socket_kind(url: str) -> str:
    return url.strip("/").split("/")[1] if url.count("/") > 2 else url


class RealtimeWriter(FastHttpUser):
    """Changes one live lead a second through the API, the change carrying its time."""

    fixed_count = 1
    wait_time = constant_pacing(1)
    network_timeout = 60.0

    def __init__(self, environment):
        self.host = _next_host(environment.host)
        super().__init__(environment)
        self.auth = {"Authorization": f"Token {FIXTURE['writer']['token']}"}
        self.turn = itertools.cycle(FIXTURE["live_leads"])

    @task
    def stamp(self) -> None:
        lead = next(self.turn)
        stamp = int(time.time() * 1000)
        with self.client.request(
            "PATCH",
            f"/api/v1/leads/{lead['id']}/",
            name="api: realtime write (live lead)",
            headers=self.auth,
            json={"company_name": htmx.marker(stamp)},
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(_why(response))
