from django.apps import AppConfig


class ActivitiesConfig(AppConfig):
    name = "activities"
    verbose_name = "Activities and automation"

    def ready(self) -> None:
        from django.db.models.signals import pre_save

        from activities import handlers, touches  # noqa: F401  (register the outbox handlers)
        from activities.automation import tag_event
        from crm.models import Event

        # Events emitted by a rule's actions remember the rule (automation loop guard).
        pre_save.connect(tag_event, sender=Event, dispatch_uid="activities.tag_event")

        # People and organization pages list their open activities (crm.records.details).
        from activities import related
        from crm.records.details import register_related

        register_related("person", "activities", related.person_activities, order=40)
        register_related("organization", "activities", related.organization_activities, order=40)
