"""The default scoring profile and the nightly schedules, as plain data.

``ScoringProfile``'s JSON fields take their defaults from the functions below; the data
migration and ``tests.conftest.install_reference_data`` call ``install_scoring_defaults``.
"""

from __future__ import annotations

from django.utils import timezone

DEFAULT_PROFILE_NAME = "Default"

# SPEC §6 / seed §4.2: category weights.
DEFAULT_WEIGHTS = {
    "demographic": 0.25,
    "behavioural": 0.35,
    "interaction": 0.25,
    "ai": 0.15,
}

DEFAULT_AUTO_QUALIFY_THRESHOLD = 75

# What an activity's ``metadata.kind`` says it records, per behavioural factor. Web-to-lead
# capture and tracking integrations write these kinds; an administrator can add synonyms.
BEHAVIOUR_FACTORS = ("form_submissions", "web_visits", "content_downloads")


def default_activity_kinds() -> dict[str, list[str]]:
    return {
        "form_submissions": ["form_submission"],
        "web_visits": ["web_visit"],
        "content_downloads": ["content_download"],
    }


def default_source_values() -> dict[str, int]:
    """How much each lead source is worth (0–100); unlisted sources score 0."""
    return {
        "referral": 100,
        "partner": 90,
        "event": 80,
        "web": 70,
        "email": 70,  # wrote to the capture address of its own accord, like a web form
        "email_campaign": 60,
        "social": 50,
        "advertising": 50,
        "cold_call": 30,
        "import": 30,
        "other": 20,
    }


def default_target_industries() -> list[str]:
    return ["Software", "Technology", "Financial Services", "Healthcare", "Manufacturing"]


def default_target_company_sizes() -> list[str]:
    return ["51-200", "201-1000", "1000+"]


def default_response_time_bands() -> list[list[float]]:
    """``[hours, score]``: a first response within ``hours`` of creation scores ``score``."""
    return [[1, 100], [4, 85], [24, 60], [72, 30], [168, 10]]


# --- installation ------------------------------------------------------------------------------
NIGHTLY_RESCORE = "Nightly lead rescore (with inactivity decay)"
NIGHTLY_TRAINING = "Nightly conversion model training"


def _ensure_crontab_task(
    apps, *, name: str, task: str, minute: str, hour: str, description: str
) -> None:
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute=minute,
        hour=hour,
        day_of_week="*",
        day_of_month="*",
        month_of_year="*",
        timezone="UTC",
    )
    if PeriodicTask.objects.filter(name=name).exists():
        return  # an administrator may have moved or disabled it
    PeriodicTask.objects.create(
        name=name, task=task, crontab=crontab, enabled=True, description=description
    )
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def install_scoring_defaults(apps, schema_editor=None) -> None:
    """The default active scoring profile (if there is no profile at all) and the nightly
    rescore and training schedules. Idempotent; never changes what an administrator edited."""
    ScoringProfile = apps.get_model("leads", "ScoringProfile")
    if not ScoringProfile.objects.exists():
        ScoringProfile.objects.create(
            name=DEFAULT_PROFILE_NAME,
            is_active=True,
            description="Installed with PipeCRM: SPEC §6 weights and factor settings.",
            weight_demographic=DEFAULT_WEIGHTS["demographic"],
            weight_behavioural=DEFAULT_WEIGHTS["behavioural"],
            weight_interaction=DEFAULT_WEIGHTS["interaction"],
            weight_ai=DEFAULT_WEIGHTS["ai"],
            target_industries=default_target_industries(),
            target_company_sizes=default_target_company_sizes(),
            source_values=default_source_values(),
            activity_kinds=default_activity_kinds(),
            response_time_bands=default_response_time_bands(),
            auto_qualify_threshold=DEFAULT_AUTO_QUALIFY_THRESHOLD,
        )
    _ensure_crontab_task(
        apps,
        name=NIGHTLY_RESCORE,
        task="leads.tasks.rescore_all_leads",
        minute="30",
        hour="2",
        description="Rescores every open lead; inactivity decay lowers the scores of idle leads.",
    )
    _ensure_crontab_task(
        apps,
        name=NIGHTLY_TRAINING,
        task="leads.tasks.train_conversion_model",
        minute="15",
        hour="3",
        description="Retrains the conversion likelihood model on converted/disqualified leads.",
    )


def uninstall_schedules(apps, schema_editor=None) -> None:
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[NIGHTLY_RESCORE, NIGHTLY_TRAINING]).delete()
