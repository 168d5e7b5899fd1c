from django.apps import AppConfig


class ActivitiesConfig(AppConfig):
    name = "activities"
    verbose_name = "Activities and automation"

    def ready(self) -> None:
        from activities import handlers, realtime, touches  # noqa: F401  (register the handlers)
        from activities.automation import chain_tag
        from crm import events

        # Events emitted by a rule's actions remember the rule (automation loop guard).
        events.add_payload_hook(chain_tag)

        # People and organization pages list their open activities (crm.records.details).
        from activities import related
        from crm.records.details import register_related

        register_related("person", "activities", related.person_activities, order=40)
        register_related("organization", "activities", related.organization_activities, order=40)

        # A merge of leads moves their enrolments (crm.records.merge).
        from activities.services import enrollments_merge
        from crm.records.merge import register_mover

        register_mover("activities.SequenceEnrollment.lead", enrollments_merge)
