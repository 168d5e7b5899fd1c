from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = "Dashboard and analytics"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from analytics.db import register_sqlite_functions

        connection_created.connect(register_sqlite_functions, dispatch_uid="analytics-sqlite")
