from django.apps import AppConfig


class CustomfieldsConfig(AppConfig):
    name = "customfields"
    verbose_name = "Custom fields"

    def ready(self) -> None:
        # customfields may depend on crm (never the other way round), so the crm models that
        # carry custom field values are registered here; leads and deals register their own.
        from crm.models import Organization, Person
        from customfields.registry import register_entity

        register_entity("person", Person, lambda: Person.objects.all())
        register_entity("organization", Organization, lambda: Organization.objects.all())
