from django.apps import AppConfig


class LeadsConfig(AppConfig):
    name = "leads"
    verbose_name = "Leads"

    def ready(self) -> None:
        from customfields.registry import register_entity
        from leads.models import Lead

        register_entity("lead", Lead, lambda: Lead.objects.all())

        from crm.records.registry import register
        from leads.records import LEADS

        register(LEADS)

        # People and organization pages list their leads (crm.records.details).
        from crm.records.details import register_related
        from leads import related

        register_related("person", "leads", related.person_leads, order=20)
        register_related("organization", "leads", related.organization_leads, order=20)
        register_related("lead", "touch-points", related.lead_touch_points, order=10)
        register_related("deal", "leads", related.deal_leads, order=10)

        # Event handlers register themselves by name when their module is imported.
        # (realtime, issue 9: live updates' outbox handlers and the lead renderer.)
        from leads import handlers, realtime  # noqa: F401
