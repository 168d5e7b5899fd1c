"""Capture forms for the Manager role, and the first touch of the leads that existed before touch
points: a TouchPoint from their attribution fields, and ``last_touch_*`` = that first touch."""

from django.db import migrations
from django.db.models import F, Q

from crm.roles import sync_roles

ATTRIBUTION = (
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "utm_term",
    "referrer_url",
    "landing_page",
)
BATCH = 2000


def first_touches(apps, schema_editor):
    Lead = apps.get_model("leads", "Lead")
    TouchPoint = apps.get_model("leads", "TouchPoint")
    attributed = Q()
    for name in ATTRIBUTION:
        attributed |= ~Q(**{name: ""})
    leads = Lead._base_manager.filter(attributed)
    rows = leads.values_list("pk", "created_at", *ATTRIBUTION).order_by("pk").iterator(BATCH)
    batch = []
    for pk, created_at, *values in rows:
        batch.append(
            TouchPoint(
                lead_id=pk,
                channel="manual",
                at=created_at,
                note="First touch, recorded before touch points existed.",
                **dict(zip(ATTRIBUTION, values, strict=True)),
            )
        )
        if len(batch) >= BATCH:
            TouchPoint.objects.bulk_create(batch)
            batch = []
    if batch:
        TouchPoint.objects.bulk_create(batch)
    leads.update(
        last_touch_source=F("utm_source"),
        last_touch_campaign=F("utm_campaign"),
        last_touch_at=F("created_at"),
    )


class Migration(migrations.Migration):
    dependencies = [("leads", "0009_capture_forms_and_touch_points")]

    operations = [
        migrations.RunPython(sync_roles, migrations.RunPython.noop),
        migrations.RunPython(first_touches, migrations.RunPython.noop, elidable=True),
    ]
