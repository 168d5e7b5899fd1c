from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "CRM core"

    def ready(self) -> None:
        # Event handlers register themselves by name when their module is imported.
        from crm import handlers  # noqa: F401
