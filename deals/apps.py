from django.apps import AppConfig


class DealsConfig(AppConfig):
    name = "deals"
    verbose_name = "Deals"

    def ready(self) -> None:
        from customfields.registry import register_entity
        from deals.models import Deal

        register_entity("deal", Deal, lambda: Deal.objects.all())

        from crm.records.registry import register
        from deals.records import DEALS

        register(DEALS)

        # People and organization pages list their deals (crm.records.details).
        from crm.records.details import register_related
        from deals import related

        register_related("person", "deals", related.person_deals, order=30)
        register_related("organization", "deals", related.organization_deals, order=30)

        from deals import realtime  # noqa: F401  (issue 9: live updates, renderer)
