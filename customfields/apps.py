from django.apps import AppConfig


class CustomfieldsConfig(AppConfig):
    name = "customfields"
    verbose_name = "Custom fields"

    def ready(self) -> None:
        # customfields builds on crm's models, so crm's models know nothing of it and the crm
        # models that carry custom field values are registered here (crm's services, forms,
        # filters and API then use customfields like leads and deals do, which register their
        # own models).
        from crm.models import Organization, Person
        from customfields.registry import register_entity

        register_entity("person", Person, lambda: Person.objects.all())
        register_entity("organization", Organization, lambda: Organization.objects.all())
