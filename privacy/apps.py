from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "privacy"
    verbose_name = "Privacy (GDPR)"

    def ready(self) -> None:
        from crm.records import details
        from crm.records import privacy as hooks
        from privacy import views

        # The access log: one row per view of a lead's or a person's page or API detail.
        hooks.register_view_observer("privacy.access_log", views.record_viewed)
        # Export and Anonymize in the "More" menu of leads and people, for those allowed.
        hooks.register_actions("privacy", views.detail_actions)
        # The privacy card (consents, anonymization) beside a lead's and a person's fields.
        details.register_related("lead", "privacy", views.privacy_section, order=90)
        details.register_related("person", "privacy", views.privacy_section, order=90)

        # A ticked consent checkbox of a capture form becomes the lead's consent record, and
        # sequences ask before a contact step whether the lead agreed to marketing.
        from activities import services as activity_services
        from leads.capture import services as capture_services
        from privacy import services

        capture_services.register_consent_recorder(services.consent_from_capture)
        activity_services.register_step_gate(services.sequence_step_gate)
