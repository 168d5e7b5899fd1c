"""The privacy settings are parsed strictly, like every other (SPEC §3)."""

import pytest

from tests.crm.test_settings import manage


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PRIVACY_MANAGERS_MANAGE_PERSONAL_DATA", "perhaps"),
        ("SEQUENCES_REQUIRE_MARKETING_CONSENT", "sometimes"),
        ("PRIVACY_ACCESS_LOG_DAYS", "0"),
        ("RETENTION_DISQUALIFIED_LEAD_DAYS", "-1"),
        ("RETENTION_INACTIVE_PERSON_DAYS", "a year"),
    ],
)
def test_a_bad_privacy_setting_stops_start_up(name, value):
    result = manage("check", env={name: value})
    assert result.returncode != 0
    assert name in result.stderr
