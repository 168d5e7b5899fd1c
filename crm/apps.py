from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "CRM core"

    def ready(self) -> None:
        # Event handlers register themselves by name when their module is imported.
        from crm import handlers, reference  # noqa: F401
        from crm.record_types import ORGANIZATIONS, PEOPLE
        from crm.records import registry, tallies

        registry.register(PEOPLE)
        registry.register(ORGANIZATIONS)
        # Boards' tallies follow the records of every type with a board (leads, deals).
        registry.when_registered(tallies.watch)
        reference.connect()
