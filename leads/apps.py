from django.apps import AppConfig


class LeadsConfig(AppConfig):
    name = "leads"
    verbose_name = "Leads"

    def ready(self) -> None:
        from customfields.registry import register_entity
        from leads.models import Lead

        register_entity("lead", Lead, lambda: Lead.objects.all())

        # Event handlers register themselves by name when their module is imported.
        # (realtime, issue 9: live updates' outbox handlers and the lead renderer.)
        from leads import handlers, realtime  # noqa: F401
