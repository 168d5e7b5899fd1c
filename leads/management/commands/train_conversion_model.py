from django.core.management.base import BaseCommand

from leads.predictive import train_conversion_model


class Command(BaseCommand):
    help = (
        "Train the conversion likelihood model (naive Bayes) on converted and disqualified "
        "leads; prints its AUC and calibration on a held-out split and stores it as a new "
        "version."
    )

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=0, help="Seed of the held-out split.")

    def handle(self, *args, seed, **options):
        report = train_conversion_model(seed=seed)
        if report.model is None:
            self.stdout.write(self.style.WARNING(report.message))
            return
        auc = f"{report.auc:.3f}" if report.auc is not None else "n/a"
        self.stdout.write(
            f"Finished leads: {report.finished} ({report.model.n_converted} converted, "
            f"{report.model.n_disqualified} disqualified)\n"
            f"Held-out split: {report.n_test} leads (trained on {report.n_train})\n"
            f"AUC: {auc}"
        )
        calibration = report.model.calibration
        if calibration:
            self.stdout.write(f"Brier score: {calibration['brier']:.3f}")
            for row in calibration["bins"]:
                rates = (
                    f"predicted {row['predicted']:.0%}, converted {row['observed']:.0%}"
                    if row["count"]
                    else "no leads"
                )
                self.stdout.write(f"  {row['low']:.0%}–{row['high']:.0%}: {row['count']} · {rates}")
        self.stdout.write(self.style.SUCCESS(report.message))
