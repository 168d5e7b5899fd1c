from django.apps import AppConfig


class DealsConfig(AppConfig):
    name = "deals"
    verbose_name = "Deals"

    def ready(self) -> None:
        from customfields.registry import register_entity
        from deals.models import Deal

        register_entity("deal", Deal, lambda: Deal.objects.all())
        from deals import realtime  # noqa: F401  (issue 9: live updates, renderer)
