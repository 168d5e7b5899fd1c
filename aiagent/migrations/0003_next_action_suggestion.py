"""Next best actions shown on a lead's intelligence panel and applied from it, for the
dashboard's acceptance figure."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("aiagent", "0002_analysis_run"),
        ("leads", "0014_captureform_consent_text"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="NextActionSuggestion",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "rule",
                    models.CharField(help_text="The rule that suggested it.", max_length=40),
                ),
                (
                    "key",
                    models.CharField(
                        help_text="The rule and a digest of the subject.", max_length=64
                    ),
                ),
                ("subject", models.CharField(max_length=255)),
                ("day", models.DateField(help_text="The local day it was shown.")),
                (
                    "created_at",
                    models.DateTimeField(
                        db_index=True, default=django.utils.timezone.now, editable=False
                    ),
                ),
                ("applied_at", models.DateTimeField(blank=True, null=True)),
                (
                    "applied_action",
                    models.CharField(
                        blank=True, help_text="task, draft, move or complete.", max_length=20
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
                "indexes": [
                    models.Index(fields=["user", "created_at"], name="ai_next_action_user_idx")
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("user", "lead", "key", "day"), name="ai_next_action_once_a_day"
                    )
                ],
            },
        ),
    ]
