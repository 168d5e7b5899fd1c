from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "CRM core"

    def ready(self) -> None:
        # Event handlers register themselves by name when their module is imported.
        from crm import handlers, reference  # noqa: F401
        from crm.record_types import ORGANIZATIONS, PEOPLE
        from crm.records.registry import register

        register(PEOPLE)
        register(ORGANIZATIONS)
        reference.connect()
