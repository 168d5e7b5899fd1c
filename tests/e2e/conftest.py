"""End-to-end test infrastructure: the real ASGI app under uvicorn, driven by headless Chromium.

- ``live_server_url``: ``config.asgi.application`` (HTTP + websockets, in-memory channel layer)
  served by uvicorn in a background thread on a free loopback port, for one test. It uses
  pytest-django's ``transactional_db`` (with serialized rollback, so data-migration rows such
  as the roles survive from test to test), so rows the test commits are visible to the server
  and the other way round (the SQLite test database is a shared-cache in-memory database that
  every thread opens; PostgreSQL needs nothing special).
- ``browser`` (a headless Chromium for one test), ``new_context`` (a factory: one isolated
  browser session per call, e.g. two users side by side) and ``page``.
- Helpers in ``tests.e2e.helpers``: ``login(page, username, password)`` and ``in_thread``.

Every test here is marked ``@pytest.mark.browser``. Without Debian's ``/usr/bin/chromium`` the
browser tests are skipped, except under ``CI=true`` where that is a failure. A failing test
leaves a screenshot of each of its pages in ``test-artifacts/<module>.<test name>.png``.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.db import connections

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS_DIR = Path(__file__).resolve().parents[2] / "test-artifacts"
DEFAULT_TIMEOUT_MS = 10_000
SERVER_START_TIMEOUT = 15.0

E2E_DIR = Path(__file__).resolve().parent
_contexts_key = pytest.StashKey[list]()


def _is_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def _require_chromium() -> None:
    if not os.path.exists(CHROMIUM):
        reason = f"Debian chromium not installed at {CHROMIUM}"
        if _is_ci():
            pytest.fail(f"{reason} (required when CI=true: apt-get install -y chromium)")
        pytest.skip(reason)


# --- pytest hooks -----------------------------------------------------------------------------


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A test in this package that forgot its marker still belongs to `-m browser`.
    for item in items:
        if E2E_DIR in Path(item.path).parents and not item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.browser)


def pytest_runtest_setup(item: pytest.Item) -> None:
    # Decide before any fixture (test database, server) is set up.
    if item.get_closest_marker("browser"):
        _require_chromium()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.when == "call" and report.failed:
        _save_screenshots(item)
    return report


def _save_screenshots(item: pytest.Item) -> None:
    contexts = item.stash.get(_contexts_key, [])
    pages = [page for context in contexts for page in context.pages if not page.is_closed()]
    if not pages:
        return
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    # The module in the name too: tests of one name in two files may fail at the same moment
    # in two xdist workers.
    name = f"{Path(item.path).stem}.{item.name}"
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")
    for number, page in enumerate(pages, start=1):
        suffix = "" if number == 1 else f"-{number}"
        path = ARTIFACTS_DIR / f"{stem}{suffix}.png"
        try:
            page.screenshot(path=str(path), full_page=True)
        except Exception as exc:  # the page may have crashed; the test failure matters more
            print(f"e2e: could not save screenshot {path}: {exc}")
        else:
            print(f"e2e: screenshot saved to {path}")


# --- the live ASGI server ---------------------------------------------------------------------


class _ThreadedUvicorn:
    """uvicorn serving one ASGI app in a daemon thread, on a socket bound before it starts."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            lifespan="off",  # Channels' ProtocolTypeRouter has no lifespan handler
            log_level="warning",
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="e2e-uvicorn", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        try:
            self.server.run(sockets=[self.sock])
        except BaseException as exc:  # surfaced by start() in the test thread
            self.error = exc

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while not self.server.started:
            if self.error is not None or not self.thread.is_alive():
                raise RuntimeError(f"uvicorn did not start: {self.error!r}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start within {SERVER_START_TIMEOUT:.0f} s")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        if self.thread.is_alive():
            self.server.force_exit = True
            self.thread.join(timeout=5)
        self.sock.close()


def _asgi_app() -> Any:
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    from config.asgi import application

    # Tests run with DEBUG off, so WhiteNoise would only look in STATIC_ROOT (not collected in
    # tests). Serve /static/ from the finders instead, as Channels' own live server does;
    # every other request (and every websocket) goes to the real application.
    return ASGIStaticFilesHandler(application)


@pytest.fixture
def live_server_url(transactional_db, settings) -> Iterator[str]:
    """Base URL (no trailing slash) of the real ASGI app serving this test's database.

    Transactional tests empty the database afterwards; the serialized rollback restores what
    the data migrations created (roles, default workflows, schedules) before each test.
    """
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    server = _ThreadedUvicorn(_asgi_app())
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
        # Realtime work still reading (a board's totals after its card) would deadlock with
        # the flush of the test database that follows.
        from crm.consumers import wait_idle

        wait_idle()


# --- the browser ------------------------------------------------------------------------------


@pytest.fixture
def _playwright(live_server_url) -> Iterator[Any]:
    # Function-scoped on purpose, and set up after the database and the server. Playwright's
    # sync API keeps an event loop running in the test's thread; while it runs, Django hands
    # that thread a separate (context-local) database connection, so the test database must be
    # prepared (serialized rollback) before Playwright starts and flushed after it stops, and
    # no later test may inherit a running loop.
    _require_chromium()
    from playwright.sync_api import expect, sync_playwright

    # Assertions wait as long as actions do: on a busy 2-core CI machine a server round trip
    # can take longer than Playwright's 5 s default.
    expect.set_options(timeout=DEFAULT_TIMEOUT_MS)

    # The ORM refuses to run while an event loop runs in its thread unless told it is safe;
    # it is: the loop only drives the browser.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        yield playwright
    finally:
        connections.close_all()  # the context-local connections opened during the test
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def browser(_playwright) -> Iterator[Browser]:
    """Headless Debian Chromium, for one test (needs the live server, which it depends on)."""
    browser = _playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def new_context(
    request: pytest.FixtureRequest, browser: Browser, live_server_url: str
) -> Iterator[Callable[..., BrowserContext]]:
    """Factory of isolated browser sessions (own cookies) whose base URL is the live server."""
    contexts: list[BrowserContext] = []
    request.node.stash[_contexts_key] = contexts

    def make(**options: Any) -> BrowserContext:
        options.setdefault("base_url", live_server_url)
        options.setdefault("viewport", {"width": 1280, "height": 900})
        context = browser.new_context(**options)
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        with contextlib.suppress(Exception):  # already closed, or the browser crashed
            context.close()


@pytest.fixture
def page(new_context) -> Page:
    return new_context().new_page()
