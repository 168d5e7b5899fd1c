"""API tokens (crm.tokens): several per user, listed and revoked by their owner, refused at
once when revoked, ended by a password change."""

import pytest
from rest_framework.test import APIClient

from crm import tokens
from crm.models import ApiToken
from tests.crm.test_api import assert_error_shape
from tests.factories import PASSWORD

ME = "/api/v1/auth/me/"
LIST = "/api/v1/auth/tokens/"


def bearer(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def obtain(api, username="rep1", password=PASSWORD, **extra):
    return api.post(
        "/api/v1/auth/token/", {"username": username, "password": password, **extra}, format="json"
    )


def test_each_sign_in_makes_a_named_token_and_the_list_shows_them(api, rep1):
    first = obtain(api, name="Reporting").json()
    second = obtain(api).json()
    assert first["name"] == "Reporting" and second["name"] == "API"
    assert first["token"] != second["token"]

    page = bearer(second["token"]).get(LIST).json()
    assert (
        set(page) == {"count", "count_exact", "next", "previous", "results"} and page["count"] == 2
    )
    rows = {row["name"]: row for row in page["results"]}
    assert set(rows["API"]) == {"id", "name", "prefix", "created_at", "last_used_at", "current"}
    assert rows["API"]["current"] and not rows["Reporting"]["current"]
    assert rows["Reporting"]["prefix"] == first["token"][:8]
    assert first["token"] not in str(page)  # keys are never shown again
    assert rows["API"]["last_used_at"] is not None


def test_a_revoked_token_is_refused_by_the_very_next_request(api, rep1):
    key = obtain(api).json()["token"]
    client = bearer(key)
    assert client.get(ME).status_code == 200
    token_id = client.get(LIST).json()["results"][0]["id"]
    assert client.delete(f"{LIST}{token_id}/").status_code == 204
    assert_error_shape(client.get(ME), 401, "not_authenticated")
    assert not ApiToken.objects.filter(pk=token_id).exists()


def test_nobody_lists_or_revokes_someone_elses_tokens(api, rep1, rep2, manager):
    mine = obtain(api).json()
    theirs = bearer(obtain(api, "rep2").json()["token"])
    assert theirs.get(LIST).json()["count"] == 1  # rep2's own only
    assert_error_shape(theirs.delete(f"{LIST}{mine['id']}/"), 404, "not_found")
    boss = bearer(obtain(api, "manager").json()["token"])
    assert_error_shape(boss.delete(f"{LIST}{mine['id']}/"), 404, "not_found")
    assert bearer(mine["token"]).get(ME).status_code == 200
    assert_error_shape(theirs.delete(f"{LIST}99999999999999999999/"), 404, "not_found")
    assert_error_shape(APIClient().get(LIST), 401, "not_authenticated")


def test_changing_the_password_ends_every_token_made_before(api, web, rep1):
    old = obtain(api).json()["token"]
    assert bearer(old).get(ME).status_code == 200

    client = web(rep1)
    response = client.post(
        "/accounts/password_change/",
        {
            "old_password": PASSWORD,
            "new_password1": "N3w-secret-pw!",
            "new_password2": "N3w-secret-pw!",
        },
        follow=True,
    )
    assert response.status_code == 200
    assert "stopped working with the old password" in response.content.decode()
    assert_error_shape(bearer(old).get(ME), 401, "not_authenticated")
    assert not ApiToken.objects.filter(user=rep1).exists()  # purged

    fresh = obtain(api, password="N3w-secret-pw!").json()["token"]
    assert bearer(fresh).get(ME).status_code == 200


def test_a_password_set_anywhere_else_ends_the_tokens_too(api, rep1):
    key = obtain(api).json()["token"]
    rep1.set_password("Other-pw-2026")
    rep1.save(update_fields=["password"])
    assert_error_shape(bearer(key).get(ME), 401, "not_authenticated")
    assert tokens.token_list(user=rep1).count() == 0


def test_an_inactive_users_tokens_are_refused(api, rep1):
    key = obtain(api).json()["token"]
    rep1.is_active = False
    rep1.save(update_fields=["is_active"])
    assert_error_shape(bearer(key).get(ME), 401, "not_authenticated")


def test_a_user_holds_a_limited_number_of_tokens(api, rep1, settings):
    settings.API_TOKENS_PER_USER = 2
    obtain(api)
    obtain(api)
    assert_error_shape(obtain(api), 409, "too_many_tokens")
    assert_error_shape(obtain(api, name="x" * 101), 400, "validation_error")


def test_only_the_keys_hash_is_stored(api, rep1):
    key = obtain(api).json()["token"]
    token = ApiToken.objects.get(user=rep1)
    assert key not in {token.key_hash, token.prefix, token.password_hash}
    assert token.key_hash == tokens.key_hash(key)


# --- the page --------------------------------------------------------------------------------
def test_the_page_makes_a_token_shows_its_key_once_and_revokes(web, rep1):
    client = web(rep1)
    assert 'href="/accounts/tokens/"' in client.get("/").content.decode()  # the user menu

    created = client.post("/accounts/tokens/", {"name": "Laptop"})
    assert created.status_code == 302 and created.url == "/accounts/tokens/"
    shown = client.get(created.url)
    assert shown["Cache-Control"] == "no-store"
    html = shown.content.decode()
    token = ApiToken.objects.get(user=rep1)
    key = html.split('id="new-token-key" value="')[1].split('"')[0]
    assert tokens.key_hash(key) == token.key_hash and "Token “Laptop” created." in html
    assert bearer(key).get(ME).status_code == 200

    listed = client.get("/accounts/tokens/").content.decode()  # once only
    assert "Laptop" in listed and f"{token.prefix}…" in listed and key not in listed

    revoked = client.post(f"/accounts/tokens/{token.pk}/revoke/", follow=True)
    assert "Token revoked" in revoked.content.decode()
    assert bearer(key).get(ME).status_code == 401


def test_the_page_never_revokes_someone_elses_token(web, rep1, rep2):
    token, _ = tokens.token_create(by=rep2, name="Theirs")
    assert web(rep1).post(f"/accounts/tokens/{token.pk}/revoke/").status_code == 404
    assert ApiToken.objects.filter(pk=token.pk).exists()


@pytest.mark.parametrize("path", ["/accounts/tokens/", "/accounts/tokens/1/revoke/"])
def test_the_page_is_for_signed_in_users(client, db, path):
    response = client.post(path) if "revoke" in path else client.get(path)
    assert response.status_code == 302 and "/accounts/login/" in response.url
