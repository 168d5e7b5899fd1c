from django.apps import AppConfig

POISON_PREFIX = "POISON"


class PoisonConfig(AppConfig):
    name = "loadtest.poison"
    label = "loadtest_poison"

    def ready(self) -> None:
        from crm.events import handles

        handles("lead.updated")(poison_handler)


def poison_handler(event) -> None:
    """Raise for every update of a lead whose name starts with ``POISON``: the outbox must
    retry it with backoff, mark it dead, and keep handling every other event meanwhile."""
    from leads.models import Lead

    name = (
        Lead.all_objects.filter(pk=(event.payload or {}).get("lead_id"))
        .values_list("name", flat=True)
        .first()
    )
    if name and name.startswith(POISON_PREFIX):
        raise RuntimeError(f"poison handler: refusing event {event.pk} of {name!r}")
