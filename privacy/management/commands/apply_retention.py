from django.conf import settings
from django.core.management.base import BaseCommand

from privacy import services


class Command(BaseCommand):
    help = (
        "Anonymize the disqualified leads and inactive people kept longer than the retention "
        "settings allow (RETENTION_DISQUALIFIED_LEAD_DAYS, RETENTION_INACTIVE_PERSON_DAYS; "
        "0: off). --dry-run lists them without changing anything."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Only list the records.")
        parser.add_argument(
            "--limit", type=int, default=1000, help="At most this many records of each type."
        )

    def handle(self, *args, dry_run: bool = False, limit: int = 1000, **options):
        lead_days = settings.RETENTION_DISQUALIFIED_LEAD_DAYS
        person_days = settings.RETENTION_INACTIVE_PERSON_DAYS
        self.stdout.write(
            f"Disqualified leads: {f'after {lead_days} days' if lead_days else 'off'}; "
            f"inactive people: {f'after {person_days} days' if person_days else 'off'}."
        )
        report = services.retention_apply(dry_run=dry_run, limit=limit)
        for line in report.leads:
            self.stdout.write(f"  lead {line}")
        for line in report.people:
            self.stdout.write(f"  person {line}")
        for line in report.failed:
            self.stderr.write(f"  failed: {line}")
        self.stdout.write(report.summary())
