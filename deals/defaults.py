"""Default data of deals, installed by a data migration (and re-installable: idempotent)."""

DEFAULT_LOST_REASONS = [
    "Price too high",
    "Chose a competitor",
    "No budget",
    "No decision",
    "Timing",
    "Lost contact",
]


def install_lost_reasons(apps, schema_editor=None) -> None:
    LostReason = apps.get_model("deals", "LostReason")
    for order, name in enumerate(DEFAULT_LOST_REASONS, start=1):
        LostReason.objects.get_or_create(name=name, defaults={"order": order})
