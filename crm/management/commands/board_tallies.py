import time

from django.core.management.base import BaseCommand

from crm.records import tallies


class Command(BaseCommand):
    help = (
        "Count every lead and deal again into the boards' column counts and totals "
        "(wfm.BoardTally) and mark their workflows as tallied: run it once after deploying "
        "them, and after writing records in bulk without events. Beat runs it nightly."
    )

    def handle(self, *args, **options):
        for rt in tallies.board_types():
            started = time.perf_counter()
            counted = tallies.rebuild(rt)
            self.stdout.write(
                f"{rt.plural}: {counted} counted in {time.perf_counter() - started:.1f} s"
            )
