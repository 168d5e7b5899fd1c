"""Security headers (SPEC §9): the content security policy names only the app's own origin for
websockets, a Permissions-Policy turns unused browser features off, and HSTS preload is an
explicit choice."""

import json

import pytest

from tests.crm.test_settings import PROD_ENV, manage

PRINT = "from django.conf import settings as s; print(json.dumps({}))"


def production_setting(expression: str, **env: str):
    code = f"import json; {PRINT.format(expression)}"
    result = manage("shell", "-v", "0", "-c", code, env={**PROD_ENV, **env})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {
        name: values
        for name, *values in (part.split() for part in policy.split(";") if part.strip())
    }


def test_websockets_may_reach_only_the_apps_own_origin(client, db):
    connect = directives(client.get("/accounts/login/"))["connect-src"]
    assert connect == ["'self'"]  # not the bare schemes "ws:" / "wss:" (any host)


def test_production_names_its_trusted_origins_for_older_browsers():
    connect = production_setting('s.CONTENT_SECURITY_POLICY["DIRECTIVES"]["connect-src"]')
    assert connect == ["'self'", "wss://crm.example.com"]


def test_permissions_policy_turns_unused_features_off(client, db):
    header = client.get("/accounts/login/")["Permissions-Policy"]
    features = dict(part.strip().split("=", 1) for part in header.split(","))
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert features[feature] == "()"
    assert features["fullscreen"] == "(self)"


@pytest.mark.parametrize(("value", "preload"), [(None, False), ("1", True)])
def test_hsts_preload_only_when_a_setting_asks(value, preload):
    env = {} if value is None else {"SECURE_HSTS_PRELOAD": value}
    assert production_setting("s.SECURE_HSTS_PRELOAD", **env) is preload
    result = manage("check", "--deploy", "--fail-level", "WARNING", env={**PROD_ENV, **env})
    assert result.returncode == 0, result.stdout + result.stderr


def test_hsts_header_without_preload(client, db, settings):
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = False
    header = client.get("/accounts/login/", secure=True)["Strict-Transport-Security"]
    assert header == "max-age=3600; includeSubDomains"
