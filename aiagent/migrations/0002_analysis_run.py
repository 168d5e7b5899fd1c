"""Qualification analyses are recorded as they run, for the dashboard's AI section (issue 16)."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("aiagent", "0001_initial"),
        ("leads", "0010_capture_roles_and_first_touches"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="AnalysisRun",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "mode",
                    models.CharField(
                        help_text="claude, or rules (the offline analyser).", max_length=10
                    ),
                ),
                (
                    "stored",
                    models.BooleanField(
                        default=False,
                        help_text="Stored on the lead. A user who may not change the lead "
                        "only sees the analysis: it offers nothing to apply.",
                    ),
                ),
                (
                    "suggested",
                    models.PositiveIntegerField(
                        default=0, help_text="Field values the stored analysis offered to apply."
                    ),
                ),
                (
                    "applied",
                    models.PositiveIntegerField(
                        default=0,
                        help_text="Of those, how many were applied "
                        "(aiagent.services.lead_apply_suggestion).",
                    ),
                ),
                (
                    "created_at",
                    models.DateTimeField(
                        db_index=True, default=django.utils.timezone.now, editable=False
                    ),
                ),
                (
                    "lead",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="leads.lead",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at"],
                "indexes": [models.Index(fields=["user", "created_at"], name="ai_run_user_idx")],
            },
        ),
    ]
