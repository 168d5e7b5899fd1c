from django.apps import AppConfig


class EmailsConfig(AppConfig):
    name = "emails"
    verbose_name = "Email"

    def ready(self) -> None:
        # Connects anymail's inbound and tracking signals to their receivers.
        from emails import inbound, tracking  # noqa: F401

        self._register_on_records()

    def _register_on_records(self) -> None:
        """What email adds to other apps' screens, without them knowing it: the "Email" card
        on the pages of leads, people and deals, "Email…" on the leads table, the sequence
        step that sends a template, and live pages when a reply arrives."""
        from activities.services import register_step_runner
        from crm.records.details import register_panel
        from crm.records.types import BulkAction, register_bulk_action
        from emails import bulk, realtime, sequences  # noqa: F401  (realtime: its handlers)

        for record_key in ("lead", "person", "deal"):
            register_panel(record_key, "email", "emails/record/_panel.html", order=50)
        register_bulk_action(
            "lead",
            BulkAction(
                "email",
                "Email…",
                "emailed",
                bulk.can_bulk_email,
                url_name="emails:bulk_compose",
            ),
        )
        register_step_runner("email", sequences.send_step_email)
