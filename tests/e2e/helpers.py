"""Helpers for browser tests (fixtures live in ``tests/e2e/conftest.py``)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.db import connections

if TYPE_CHECKING:
    from playwright.sync_api import Page

LOGIN_PATH = "/accounts/login/"


def login(page: Page, username: str, password: str) -> None:
    """Sign in through the login form and wait until the app has taken the user past it."""
    page.goto(LOGIN_PATH)
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(password)
    with page.expect_navigation():
        page.locator("button[type=submit]").click()
    if LOGIN_PATH in page.url:
        raise AssertionError(f"login as {username!r} failed: still on {page.url}")


def ask_assistant(scope, text: str):
    """Type ``text`` into the assistant (the chat page or a record's drawer, ``scope``), send
    it as a person would with Enter, and return the answer once it has arrived."""
    from playwright.sync_api import expect

    answers = scope.get_by_test_id("ai-answer")
    before = answers.count()
    scope.get_by_test_id("ai-input").fill(text)
    scope.get_by_test_id("ai-input").press("Enter")
    expect(answers).to_have_count(before + 1)
    return answers.last


def in_thread(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``func`` in a fresh thread and return its result (or raise its exception).

    While Playwright's sync API is active its event loop runs in the test's thread, so code that
    calls ``async_to_sync`` there (e.g. a service publishing a realtime message on commit)
    raises; in another thread it works, and with ``transactional_db`` its writes are committed
    and visible to the test, the server and the browser.
    """
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = func(*args, **kwargs)
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=target, name="e2e-in-thread")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("result")
