"""Sign-in protection (SPEC §9, crm.auth): django-axes locks out by username and address and by
address across usernames, proxy-aware, with a cool-off and an admin unlock; the login page and
the API token endpoint answer 429."""

from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.test import RequestFactory
from django.utils import timezone

from crm.auth import client_ip
from tests.crm.test_api import assert_error_shape
from tests.factories import PASSWORD, UserFactory

LOGIN = "/accounts/login/"
TOKEN = "/api/v1/auth/token/"
ME = "1.2.3.4"  # addresses the tests sign in from (never contacted)
STRANGER = "5.6.7.8"


@pytest.fixture(autouse=True)
def limits(settings):
    settings.AXES_FAILURE_LIMIT = 5
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 10
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    settings.TRUSTED_PROXY_COUNT = 0


def sign_in(client, username, password="wrong", **meta):
    meta.setdefault("REMOTE_ADDR", ME)
    return client.post(LOGIN, {"username": username, "password": password}, **meta)


def fail(client, username, times, **meta):
    return [sign_in(client, username, **meta).status_code for _ in range(times)]


def test_repeated_failures_lock_the_username_at_that_address_with_a_friendly_429(client, rep1):
    assert fail(client, "rep1", 4) == [200] * 4
    response = sign_in(client, "rep1")  # the fifth failure locks
    assert response.status_code == 429
    html = response.content.decode()
    assert "Too many failed attempts. Try again in 15 minutes." in html
    assert 'value="rep1"' in html  # the login page again, as posted
    assert int(response["Retry-After"]) == 15 * 60
    # Locked out even with the right password.
    assert sign_in(client, "rep1", PASSWORD).status_code == 429


def test_a_stranger_cannot_lock_someone_out_from_another_address(client, rep1):
    fail(client, "rep1", 6, REMOTE_ADDR=STRANGER)
    assert sign_in(client, "rep1", PASSWORD, REMOTE_ADDR=STRANGER).status_code == 429
    response = sign_in(client, "rep1", PASSWORD, REMOTE_ADDR=ME)
    assert response.status_code == 302 and response.url == "/"


def test_one_password_sprayed_over_many_usernames_is_throttled(client, db):
    names = [f"user{n}" for n in range(15)]
    for name in names:
        UserFactory(username=name)
    statuses = [sign_in(client, name, "Summer2026!").status_code for name in names]
    # Each username failed once only: the address's tenth failure locks it out.
    assert statuses == [200] * 9 + [429] * 6
    # Everyone at that address waits, even with a right password.
    assert sign_in(client, "user0", PASSWORD).status_code == 429
    assert sign_in(client, "user0", PASSWORD, REMOTE_ADDR=STRANGER).status_code == 302


def test_behind_a_trusted_proxy_each_client_address_counts_on_its_own(client, settings, rep1):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    fail(client, "rep1", 5, HTTP_X_FORWARDED_FOR=STRANGER, **proxy)
    assert (
        sign_in(client, "rep1", PASSWORD, HTTP_X_FORWARDED_FOR=STRANGER, **proxy).status_code == 429
    )
    # A forged entry on the left does not pass the stranger off as someone else.
    forged = f"{ME}, {STRANGER}"
    assert (
        sign_in(client, "rep1", PASSWORD, HTTP_X_FORWARDED_FOR=forged, **proxy).status_code == 429
    )
    # rep1 behind the same proxy signs in: the proxy's own address locked nobody out.
    ok = sign_in(client, "rep1", PASSWORD, HTTP_X_FORWARDED_FOR=ME, **proxy)
    assert ok.status_code == 302
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {STRANGER}


def test_without_trusted_proxies_the_forwarded_header_is_ignored(client, rep1):
    fail(client, "rep1", 5, HTTP_X_FORWARDED_FOR="9.9.9.9")
    assert sign_in(client, "rep1", PASSWORD, HTTP_X_FORWARDED_FOR="8.8.8.8").status_code == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {ME}


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "9.9.9.9", "10.0.0.1"),
        (1, "9.9.9.9", "9.9.9.9"),
        (1, "6.6.6.6, 9.9.9.9", "9.9.9.9"),
        (2, "6.6.6.6, 9.9.9.9, 10.0.0.7", "9.9.9.9"),
        (3, "9.9.9.9, 10.0.0.7", "9.9.9.9"),  # fewer hops than proxies: the first one
        (1, "not-an-address", "10.0.0.1"),
        (1, "2001:db8::1", "2001:db8::1"),
        (1, "", "10.0.0.1"),
    ],
)
def test_client_address(settings, proxies, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


def test_the_lockout_ends_after_the_cool_off(client, rep1):
    fail(client, "rep1", 5)
    assert sign_in(client, "rep1", PASSWORD).status_code == 429  # (and restarts the cool-off)
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        response = sign_in(client, "rep1", PASSWORD)
    assert response.status_code == 302


def test_a_successful_sign_in_forgives_only_that_username_at_that_address(client, rep1, rep2):
    fail(client, "rep1", 4)
    fail(client, "nobody", 4)
    assert sign_in(client, "rep1", PASSWORD).status_code == 302
    client.logout()
    # rep1's four failures are forgiven, the other username's are not: two more from this
    # address (four of nobody's, two new) stay under the address limit of ten...
    assert fail(client, "rep1", 4) == [200] * 4
    assert AccessAttempt.objects.get(username="nobody").failures_since_start == 4
    # ... and the tenth failure from the address locks it.
    assert fail(client, "rep2", 2) == [200, 429]


def test_an_administrator_unlocks_in_the_admin(client, rep1, admin_user):
    fail(client, "rep1", 5)
    assert sign_in(client, "rep1", PASSWORD).status_code == 429
    attempt = AccessAttempt.objects.get(username="rep1")

    client.force_login(admin_user)
    changelist = client.get("/admin/axes/accessattempt/?locked_out=yes")
    assert changelist.status_code == 200 and "rep1" in changelist.content.decode()
    response = client.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    client.logout()

    assert sign_in(client, "rep1", PASSWORD).status_code == 302


def test_the_api_token_endpoint_is_protected_too(api, client, rep1):
    def token(password, address=ME):
        return api.post(
            TOKEN, {"username": "rep1", "password": password}, format="json", REMOTE_ADDR=address
        )

    codes = [token("wrong").json()["error"]["code"] for _ in range(4)]
    assert codes == ["invalid_credentials"] * 4
    error = assert_error_shape(token("wrong"), 429, "throttled")
    assert error["message"] == "Too many failed attempts. Try again in 15 minutes."
    assert error["details"] == {"retry_after": ["900"]}
    locked = token(PASSWORD)
    assert_error_shape(locked, 429, "throttled")
    assert locked["Retry-After"] == "900"
    # The same count as the login page's: the page is locked for rep1 at this address too.
    assert sign_in(client, "rep1", PASSWORD).status_code == 429
    assert token(PASSWORD, address=STRANGER).status_code == 200
