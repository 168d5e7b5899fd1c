"""The assistant's lead metrics take created days as the tables' filters do (local days, both
ends included: ``LeadFilter``)."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from aiagent import registry
from leads.models import Lead
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db


def test_metrics_count_the_leads_created_on_the_local_days_asked(manager, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    berlin = ZoneInfo("Europe/Berlin")
    for name, at in {
        "before": datetime(2026, 3, 1, 23, 59, tzinfo=berlin),
        "first": datetime(2026, 3, 2, 0, 0, tzinfo=berlin),
        "last": datetime(2026, 3, 3, 23, 59, tzinfo=berlin),
        "after": datetime(2026, 3, 4, 0, 0, tzinfo=berlin),
    }.items():
        lead = LeadFactory(owner=manager, name=name)
        Lead.objects.filter(pk=lead.pk).update(created_at=at)
    ctx = registry.ToolContext(user=manager, source="test")

    result = registry.execute(
        ctx, "lead_metrics", {"created_after": "2026-03-02", "created_before": "2026-03-03"}
    )

    assert not result.error, result.error
    assert result.result["total"] == 2, result.result
