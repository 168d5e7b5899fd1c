"""``manage.py find_duplicates [--full]``: the nightly run, on demand."""

from django.core.management.base import BaseCommand

from duplicates.services import duplicates_find


class Command(BaseCommand):
    help = (
        "Find possible duplicate leads, people and organizations among the records changed "
        "since the last run (--full: among all records)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--full", action="store_true", help="Check every record again.")

    def handle(self, *args, full: bool = False, **options):
        result = duplicates_find(full=full)
        by_type = ", ".join(f"{n} {t}" for t, n in result.by_type.items())
        self.stdout.write(
            f"Checked {result.checked} records ({by_type}): {result.pairs} candidate pairs "
            f"in {result.seconds:.1f} s."
        )
