"""In Chromium: websockets connect under the content security policy (``connect-src 'self'``,
no bare ``ws:``), and a user manages their API tokens from the user menu."""

import pytest
from playwright.sync_api import Page, expect

from crm.models import ApiToken
from crm.roles import Role
from crm.tokens import key_hash
from tests.e2e.helpers import login
from tests.e2e.test_realtime import COUNT_SOCKETS, wait_for_sockets
from tests.factories import PASSWORD, UserFactory


@pytest.mark.browser
def test_websockets_connect_under_the_content_security_policy(new_context) -> None:
    UserFactory(username="cspuser", role=Role.SALES_REP)
    context = new_context()
    context.add_init_script(COUNT_SOCKETS)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))

    login(page, "cspuser", PASSWORD)
    response = page.goto("/leads/board/")
    policy = response.headers["content-security-policy"]
    # django-csp writes the directives in no fixed order (it walks a set): read connect-src's own.
    directives = {
        name: values for name, *values in (p.split() for p in policy.split(";") if p.strip())
    }
    assert directives["connect-src"] == ["'self'"] and "ws:" not in policy, policy
    wait_for_sockets(page, 2)  # the bell's and the board's
    assert {url.split("/ws/")[1].split("/")[0] for url in sockets} >= {"notifications", "boards"}
    assert not [p for p in problems if "Content Security Policy" in p or "Permissions" in p]


@pytest.mark.browser
def test_a_user_makes_and_revokes_an_api_token_from_the_user_menu(page: Page) -> None:
    user = UserFactory(username="tokenuser", role=Role.ANALYST)
    login(page, "tokenuser", PASSWORD)

    page.get_by_role("button", name="Toggle light/dark mode").wait_for()
    page.locator("a.dropdown-toggle", has_text=user.display_name).click()
    page.get_by_role("link", name="API tokens").click()
    expect(page.get_by_role("heading", name="API tokens")).to_be_visible()

    page.get_by_label("Name").fill("Reporting script")
    page.get_by_role("button", name="Create token").click()
    key = page.locator("#new-token-key").input_value()
    assert ApiToken.objects.get(user=user).key_hash == key_hash(key)
    expect(page.get_by_test_id("token-list")).to_contain_text("Reporting script")

    page.reload()  # the key is shown once only, and no second token is made
    expect(page.locator("#new-token-key")).to_have_count(0)
    assert ApiToken.objects.filter(user=user).count() == 1
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke token Reporting script").click()
    expect(page.get_by_text("Token revoked")).to_be_visible()
    expect(page.get_by_text("No API tokens yet.")).to_be_visible()
    assert not ApiToken.objects.filter(user=user).exists()
