import sys

from django.core.management.base import BaseCommand

from leads.models import Lead
from leads.scoring.services import BATCH_SIZE, open_leads, rescore_leads


class Command(BaseCommand):
    help = (
        "Recompute lead scores in bulk (the nightly task does the same for open leads), "
        "applying inactivity decay, recording score changes and auto-qualifying."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--all",
            action="store_true",
            dest="everything",
            help="Every live lead, converted and disqualified ones included (default: open).",
        )
        parser.add_argument("--batch", type=int, default=BATCH_SIZE, help="Leads per batch.")
        parser.add_argument(
            "--no-progress", action="store_true", help="Print only the summary line."
        )

    def handle(self, *args, everything, batch, no_progress, **options):
        queryset = Lead.objects.all() if everything else open_leads()
        total = queryset.count()
        self.stdout.write(f"Rescoring {total} {'live' if everything else 'open'} leads…")
        bar = _ProgressBar(self.stdout, total) if not no_progress else None
        result = rescore_leads(
            queryset, batch_size=max(1, batch), progress=bar.update if bar else None, total=total
        )
        if bar:
            bar.finish()
        self.stdout.write(
            self.style.SUCCESS(
                f"Rescored {result.scored} leads in {result.seconds:.1f} s: "
                f"{result.changed} scores changed, {len(result.auto_qualified)} auto-qualified."
            )
        )


class _ProgressBar:
    """A plain-text progress bar: redrawn in place on a terminal, one line per step of 10 %
    otherwise (logs, CI)."""

    WIDTH = 30

    def __init__(self, out, total: int):
        self.out = out
        self.total = max(total, 1)
        self.tty = getattr(out, "isatty", lambda: False)() or sys.stdout.isatty()
        self.last_decile = -1

    def update(self, done: int, total: int) -> None:
        fraction = min(1.0, done / self.total)
        filled = int(fraction * self.WIDTH)
        line = f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{self.total} {fraction:.0%}"
        if self.tty:
            self.out.write("\r" + line, ending="")
            self.out.flush()
        elif int(fraction * 10) > self.last_decile:
            self.last_decile = int(fraction * 10)
            self.out.write(line)

    def finish(self) -> None:
        if self.tty:
            self.out.write("")
