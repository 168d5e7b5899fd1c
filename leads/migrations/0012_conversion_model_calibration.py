"""The conversion model's calibration on its held-out leads (issue 16)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0011_dashboard_reads"),
    ]

    operations = [
        migrations.AddField(
            model_name="conversionmodel",
            name="calibration",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text="Calibration on the held-out split (leads.predictive.calibration): "
                "per probability bin (low–high) its number of leads, their mean predicted "
                "probability and the share that converted; the Brier score (0 is perfect, "
                "0.25 is always saying 50 %) and n, the held-out leads. Empty for models "
                "trained before it was recorded.",
            ),
        ),
    ]
