import pytest
from playwright.sync_api import Page, expect

from crm.models import User
from crm.roles import Role
from tests.e2e.helpers import login
from tests.factories import PASSWORD, UserFactory


@pytest.mark.browser
def test_sales_rep_logs_in_and_sees_the_app_shell(page: Page) -> None:
    UserFactory(username="e2euser", role=Role.SALES_REP)

    login(page, "e2euser", PASSWORD)

    expect(page.get_by_role("navigation").first).to_contain_text("Leads")
    # The server's write (last login) is visible to the test's own connection.
    assert User.objects.get(username="e2euser").last_login is not None
