import secrets
import uuid
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase
from simple_history.models import HistoricalRecords

from crm.models import MergeableModel, Organization, Person, SoftDeleteModel, TimestampedModel
from leads.scoring import defaults as scoring_defaults

# The lead's fields as services, the API, the AI tools, automation, import and export know
# them: the one list (issue 13). Attribution is the first touch (SPEC §5, seed 000 §7.3).
ATTRIBUTION_FIELDS = (
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "utm_term",
    "referrer_url",
    "landing_page",
)

EDITABLE_FIELDS = (
    "name",
    "source",
    "sub_source",
    "description",
    "contact_name",
    "contact_email",
    "contact_phone",
    "company_name",
    "person",
    "organization",
    "estimated_value",
    "currency",
    "estimated_close_date",
    "priority",
    *ATTRIBUTION_FIELDS,
)


class Lead(TimestampedModel, SoftDeleteModel, MergeableModel):
    """A prospective sale before it becomes a deal (SPEC §5). Its status is its WFM step."""

    class Source(models.TextChoices):
        WEB = "web", "Website"
        REFERRAL = "referral", "Referral"
        EVENT = "event", "Event"
        COLD_CALL = "cold_call", "Cold call"
        EMAIL_CAMPAIGN = "email_campaign", "Email campaign"
        SOCIAL = "social", "Social media"
        PARTNER = "partner", "Partner"
        ADVERTISING = "advertising", "Advertising"
        EMAIL = "email", "Email"  # mail to the capture address (emails.inbound)
        IMPORT = "import", "Import"
        OTHER = "other", "Other"

    class Priority(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"
        URGENT = "urgent", "Urgent"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, help_text="What the opportunity is about.")
    # Indexed in Meta (a plain btree; ``db_index`` would add a LIKE index nobody uses).
    source = models.CharField(max_length=30, choices=Source, default=Source.OTHER)
    sub_source = models.CharField(max_length=100, blank=True)
    description = models.TextField(blank=True)

    contact_name = models.CharField(max_length=200, blank=True)
    contact_email = models.EmailField(blank=True)  # indexed in Meta
    contact_phone = models.CharField(max_length=50, blank=True)
    company_name = models.CharField(max_length=200, blank=True)
    person = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="leads"
    )
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.SET_NULL, related_name="leads"
    )

    estimated_value = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
    )
    currency = models.CharField(max_length=3, default=settings.DEFAULT_CURRENCY)
    estimated_close_date = models.DateField(null=True, blank=True)
    priority = models.CharField(max_length=10, choices=Priority, default=Priority.MEDIUM)

    lead_score = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(100)], db_index=True
    )
    lead_score_factors = models.JSONField(default=dict, blank=True)
    score_updated_at = models.DateTimeField(null=True, blank=True)

    is_qualified = models.BooleanField(default=False)
    qualification_notes = models.TextField(blank=True)
    qualified_at = models.DateTimeField(null=True, blank=True)
    qualified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    disqualify_reason = models.TextField(blank=True)

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_leads",
        db_index=False,  # lead_owner_idx (owner, created_at) serves it
    )
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_leads",
        db_index=False,  # lead_assignee_idx (assigned_to, created_at) serves it
    )
    assigned_at = models.DateTimeField(null=True, blank=True)

    converted_at = models.DateTimeField(null=True, blank=True)
    converted_to_person = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="converted_leads"
    )
    converted_to_organization = models.ForeignKey(
        Organization,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="converted_leads",
    )
    converted_to_deal = models.OneToOneField(
        "deals.Deal",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="source_lead",
    )
    converted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    wfm_project = models.OneToOneField("wfm.Project", on_delete=models.PROTECT, related_name="lead")
    custom_field_values = models.JSONField(default=dict, blank=True)
    last_activity_at = models.DateTimeField(null=True, blank=True, db_index=True)
    first_activity_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When the first activity that is not a system one was logged on this lead "
        "(kept by the activity services): the dashboard's first-response time.",
    )
    ai_insights = models.JSONField(default=dict, blank=True)

    # First-touch attribution: kept as first set; every touch (the first too) is a TouchPoint.
    utm_source = models.CharField(max_length=200, blank=True)
    utm_medium = models.CharField(max_length=200, blank=True)
    utm_campaign = models.CharField(max_length=200, blank=True)
    utm_content = models.CharField(max_length=200, blank=True)
    utm_term = models.CharField(max_length=200, blank=True)
    referrer_url = models.URLField(max_length=1000, blank=True)
    landing_page = models.URLField(max_length=1000, blank=True)

    # The latest TouchPoint's source and campaign, kept by ``leads.services`` so that the
    # table filters on the last touch without a subquery per row (indexed in Meta).
    last_touch_source = models.CharField(max_length=200, blank=True)
    last_touch_campaign = models.CharField(max_length=200, blank=True)
    last_touch_at = models.DateTimeField(null=True, blank=True)

    anonymized_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords(
        excluded_fields=[
            "lead_score_factors",
            "ai_insights",
            "custom_field_values",
            # Derived from the activities, which are their own record.
            "first_activity_at",
            # Derived from the touch points, which are their own history.
            "last_touch_source",
            "last_touch_campaign",
            "last_touch_at",
        ]
    )

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("view_all_leads", "Can view all leads"),
            ("change_all_leads", "Can change all leads"),
            ("delete_all_leads", "Can delete all leads"),
            ("reassign_lead", "Can reassign leads to other users"),
        ]
        indexes = [
            *MergeableModel.Meta.indexes,
            # The newest changes first: the duplicate check's records changed since the last
            # duplicate run (duplicates.selectors._fresh), read on every lead page.
            models.Index(fields=["updated_at"], name="lead_updated_idx"),
            models.Index(fields=["owner", "created_at"], name="lead_owner_idx"),
            models.Index(fields=["assigned_to", "created_at"], name="lead_assignee_idx"),
            models.Index(fields=["source"], name="lead_source_idx"),
            models.Index(fields=["contact_email"], name="lead_contact_email_idx"),
            # First- and last-touch filters of the table (issue 15).
            models.Index(fields=["utm_source"], name="lead_first_source_idx"),
            models.Index(fields=["utm_campaign"], name="lead_first_campaign_idx"),
            models.Index(fields=["last_touch_source"], name="lead_last_source_idx"),
            models.Index(fields=["last_touch_campaign"], name="lead_last_campaign_idx"),
            # My day's numbers and the tables' "qualified / converted from–to" (issue 16):
            # partial, as most leads have neither.
            models.Index(
                fields=["qualified_at"],
                name="lead_qualified_at_idx",
                condition=models.Q(qualified_at__isnull=False),
            ),
            models.Index(
                fields=["converted_at"],
                name="lead_converted_at_idx",
                condition=models.Q(converted_at__isnull=False),
            ),
        ]
        # Every index is written again when a score moves (a nightly rescore touches most
        # leads): keep only those a screen or a rule reads. PostgreSQL also has the partial
        # covering index ``lead_live_cover_idx`` (migration 0007) for the board totals and
        # ``lead_cohort_cover_idx`` (migration 0011) for the dashboard's cohort figures.

    def __str__(self) -> str:
        return self.name

    @property
    def is_converted(self) -> bool:
        return self.converted_at is not None


# --- web-to-lead capture and touch points (issue 15) ---------------------------------------------
# The lead fields a capture form may show, in the order it shows them, with the labels a visitor
# reads. The email is always shown and required: it is how a returning visitor is recognised.
CAPTURE_STANDARD_FIELDS = {
    "contact_name": "Your name",
    "contact_email": "Email",
    "contact_phone": "Phone",
    "company_name": "Company",
    "name": "Subject",
    "description": "Message",
}
CAPTURE_ALWAYS_FIELD = "contact_email"
CAPTURE_DEFAULT_FIELDS = [
    {"name": "contact_name", "required": True},
    {"name": "company_name", "required": False},
    {"name": "contact_phone", "required": False},
    {"name": "description", "required": False},
]


def new_capture_key() -> str:
    return f"cf_{secrets.token_urlsafe(24)}"


class CaptureForm(TimestampedModel):
    """A web-to-lead form (SPEC §6 capture): a hosted page at ``/f/<slug>/`` and an embeddable
    snippet, both posting to ``POST /api/v1/lead-capture/``. Managed by Managers and Admins
    (``leads.change_captureform``) on ``/settings/capture-forms/``."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100, help_text="Shown as the hosted page's title.")
    slug = models.SlugField(
        max_length=60,
        unique=True,
        help_text="The hosted page's address: /f/<slug>/. Made from the name when empty.",
    )
    key = models.CharField(
        max_length=64,
        unique=True,
        default=new_capture_key,
        editable=False,
        help_text="Identifies the form to the capture endpoint (X-Capture-Key header or the "
        "capture_key field). Not a secret (it is in the page), but rotating it cuts off old "
        "copies of the snippet.",
    )
    fields = models.JSONField(
        default=list,
        blank=True,
        help_text='The fields shown besides the email, in order: [{"name": "contact_name", '
        '"required": true}, …]. Names: contact_name, contact_phone, company_name, name, '
        "description, or a lead custom field. Required lead custom fields are always shown.",
    )
    default_source = models.CharField(
        max_length=30,
        choices=Lead.Source,
        default=Lead.Source.WEB,
        help_text="The source of the leads this form creates.",
    )
    default_sub_source = models.CharField(
        max_length=100,
        blank=True,
        help_text="The leads' sub-source, e.g. “Pricing page”; empty: the form's name.",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Who gets the new leads (owner and assignee). Empty: the assignment rules "
        "decide, as for any new unassigned lead.",
    )
    workflow = models.ForeignKey(
        "wfm.Workflow",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The workflow new leads start in. Empty: the lead project type's default.",
    )
    thank_you_message = models.TextField(
        blank=True,
        default="Thank you! We will be in touch soon.",
        help_text="Shown after a submission (when no redirect URL is set).",
    )
    redirect_url = models.URLField(
        max_length=500, blank=True, help_text="Where the visitor goes after a submission."
    )
    allowed_origins = models.JSONField(
        default=list,
        blank=True,
        help_text='Sites that may post this form from their pages, e.g. ["https://www.acme.com"] '
        "(scheme, host and port; no path). Empty: only the hosted page and servers.",
    )
    is_active = models.BooleanField(
        default=True, help_text="An inactive form refuses submissions (403)."
    )
    consent_text = models.CharField(
        "consent checkbox",
        max_length=500,
        blank=True,
        help_text="The wording of an optional marketing consent checkbox, e.g. “Send me news "
        "and offers by email”. Empty: no checkbox. A ticked box is recorded as the lead's "
        "marketing consent, with this form and wording as evidence.",
    )

    class Meta:
        ordering = ["name"]
        verbose_name = "capture form"

    def __str__(self) -> str:
        return self.name


class TouchPoint(models.Model):
    """One marketing touch of a lead: the first (when it was created) and each later one (a
    form submitted again, an import row, an API call). The lead keeps its first touch in its own
    attribution fields and its last one in ``last_touch_*``."""

    class Channel(models.TextChoices):
        CAPTURE = "capture", "Web form"
        IMPORT = "import", "Import"
        API = "api", "API"
        MANUAL = "manual", "Manual"
        EMAIL = "email", "Email"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="touch_points")
    channel = models.CharField(max_length=20, choices=Channel, default=Channel.MANUAL)
    utm_source = models.CharField(max_length=200, blank=True)
    utm_medium = models.CharField(max_length=200, blank=True)
    utm_campaign = models.CharField(max_length=200, blank=True)
    utm_content = models.CharField(max_length=200, blank=True)
    utm_term = models.CharField(max_length=200, blank=True)
    referrer_url = models.URLField(max_length=1000, blank=True)
    landing_page = models.URLField(max_length=1000, blank=True)
    form = models.ForeignKey(
        CaptureForm, null=True, blank=True, on_delete=models.SET_NULL, related_name="touch_points"
    )
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    note = models.CharField(max_length=500, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["lead", "-at"], name="touch_point_lead_idx")]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.utm_source or '(direct)'} at {self.at:%Y-%m-%d}"


class LeadUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Lead, on_delete=models.CASCADE)


class LeadGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Lead, on_delete=models.CASCADE)


# --- scoring (issue 8) ---------------------------------------------------------------------------
def _weight_field(default: float, label: str) -> models.DecimalField:
    return models.DecimalField(
        label,
        max_digits=6,
        decimal_places=3,
        default=Decimal(str(default)),
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Any number ≥ 0; the four weights are divided by their sum.",
    )


def _saturation_field(default: int, what: str) -> models.PositiveSmallIntegerField:
    return models.PositiveSmallIntegerField(
        default=default,
        validators=[MinValueValidator(1)],
        help_text=f"{what} at which the factor reaches 100 (it grows linearly up to there).",
    )


class ScoringProfile(models.Model):
    """The settings of the scoring engine (SPEC §6 Scoring). Exactly one profile is active;
    without one, the engine uses the defaults of a new profile."""

    name = models.CharField(max_length=100, unique=True)
    is_active = models.BooleanField(default=False)
    description = models.TextField(blank=True)

    weight_demographic = _weight_field(0.25, "demographic weight")
    weight_behavioural = _weight_field(0.35, "behavioural weight")
    weight_interaction = _weight_field(0.25, "interaction weight")
    weight_ai = _weight_field(0.15, "AI-derived weight")

    # Demographic
    industry_field = models.SlugField(
        max_length=100,
        default="industry",
        help_text="Lead custom field holding the industry; else the organization's industry.",
    )
    target_industries = models.JSONField(
        default=scoring_defaults.default_target_industries,
        blank=True,
        help_text='A list, e.g. ["Software", "Healthcare"] (case does not matter).',
    )
    company_size_field = models.SlugField(
        max_length=100,
        default="company_size",
        help_text="Lead custom field holding the company size; else the organization's size.",
    )
    target_company_sizes = models.JSONField(
        default=scoring_defaults.default_target_company_sizes,
        blank=True,
        help_text='A list of size bands, e.g. ["51-200", "201-1000", "1000+"].',
    )
    location_field = models.SlugField(
        max_length=100,
        default="country",
        help_text="Lead custom field holding the location; else the organization's address.",
    )
    target_locations = models.JSONField(
        default=list,
        blank=True,
        help_text="A list of places (matched as words of the location); empty: not scored.",
    )
    source_values = models.JSONField(
        "valued sources",
        default=scoring_defaults.default_source_values,
        blank=True,
        help_text='Score 0–100 per lead source, e.g. {"referral": 100, "web": 70}.',
    )

    # Behavioural
    inbound_email_saturation = _saturation_field(5, "Inbound emails")
    form_submission_saturation = _saturation_field(3, "Form submissions")
    web_visit_saturation = _saturation_field(10, "Web visits")
    content_download_saturation = _saturation_field(3, "Content downloads")
    engagement_window_days = models.PositiveSmallIntegerField(
        default=90,
        help_text="Behavioural signals older than this many days no longer count (0: all).",
    )
    activity_kinds = models.JSONField(
        default=scoring_defaults.default_activity_kinds,
        blank=True,
        help_text=(
            "The activity metadata “kind” values counted by each behavioural factor, e.g. "
            '{"form_submissions": ["form_submission"], "web_visits": ["web_visit"], '
            '"content_downloads": ["content_download"]}.'
        ),
    )

    # Interaction
    response_time_bands = models.JSONField(
        default=scoring_defaults.default_response_time_bands,
        blank=True,
        help_text=(
            "[[hours, score], …] in increasing hours: a first outbound contact within "
            "“hours” of creation scores “score”; slower responses score 0."
        ),
    )
    calls_saturation = _saturation_field(3, "Completed calls")
    meetings_saturation = _saturation_field(2, "Meetings held")
    recency_half_life_days = models.PositiveSmallIntegerField(
        default=14,
        validators=[MinValueValidator(1)],
        help_text="The recency factor halves every this many days since the last activity.",
    )

    # Inactivity decay of the total
    decay_after_days = models.PositiveSmallIntegerField(
        default=30, help_text="Days without activity before the total starts to decay."
    )
    decay_half_life_days = models.PositiveSmallIntegerField(
        default=60,
        help_text="After that, the total halves every this many days (0: no decay).",
    )

    auto_qualify_threshold = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        default=scoring_defaults.DEFAULT_AUTO_QUALIFY_THRESHOLD,
        validators=[MaxValueValidator(100)],
        help_text="Leads reaching this score before Qualified are qualified by the system "
        "(once per lead). Empty: never.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-is_active", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"],
                condition=models.Q(is_active=True),
                name="one_active_scoring_profile",
                violation_error_message="Only one scoring profile can be active.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} (active)" if self.is_active else self.name

    @property
    def weights(self) -> dict[str, float]:
        return {
            "demographic": float(self.weight_demographic),
            "behavioural": float(self.weight_behavioural),
            "interaction": float(self.weight_interaction),
            "ai": float(self.weight_ai),
        }

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        errors: dict[str, list[str]] = {}
        weights = [
            self.weight_demographic,
            self.weight_behavioural,
            self.weight_interaction,
            self.weight_ai,
        ]
        if all(w is not None for w in weights) and sum(weights) <= 0:
            errors["__all__"] = [
                "The four category weights add up to 0: give at least one a weight above 0."
            ]
        for name in ("target_industries", "target_company_sizes", "target_locations"):
            value = getattr(self, name)
            if not isinstance(value, list) or not all(
                isinstance(v, str) and v.strip() for v in value
            ):
                errors[name] = ['Give a list of names, e.g. ["Software", "Healthcare"].']
        errors.update(_source_value_errors(self.source_values))
        errors.update(_activity_kind_errors(self.activity_kinds))
        errors.update(_band_errors(self.response_time_bands))
        if self.is_active:
            other = ScoringProfile.objects.filter(is_active=True).exclude(pk=self.pk).first()
            if other is not None:
                errors["is_active"] = [
                    f"“{other.name}” is the active profile; only one can be active. "
                    "Deactivate it first, or use the “Make active” action in the list."
                ]
        if errors:
            raise ValidationError(errors)


def _source_value_errors(value) -> dict[str, list[str]]:
    if not isinstance(value, dict):
        return {"source_values": ['Give an object, e.g. {"referral": 100, "web": 70}.']}
    known = set(Lead.Source.values)
    unknown = sorted(set(value) - known)
    if unknown:
        return {
            "source_values": [
                f"Unknown sources: {', '.join(unknown)}. Known: {', '.join(sorted(known))}."
            ]
        }
    bad = [
        k
        for k, v in value.items()
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 100
    ]
    if bad:
        return {"source_values": [f"Scores must be numbers from 0 to 100 ({', '.join(bad)})."]}
    return {}


def _activity_kind_errors(value) -> dict[str, list[str]]:
    allowed = scoring_defaults.BEHAVIOUR_FACTORS
    message = (
        f"Give an object with the keys {', '.join(allowed)}, each a list of activity kinds, "
        'e.g. {"web_visits": ["web_visit", "page_view"]}.'
    )
    if not isinstance(value, dict) or set(value) - set(allowed):
        return {"activity_kinds": [message]}
    for kinds in value.values():
        if not isinstance(kinds, list) or not all(isinstance(k, str) and k for k in kinds):
            return {"activity_kinds": [message]}
    return {}


def _band_errors(value) -> dict[str, list[str]]:
    message = (
        "Give [[hours, score], …] with hours above 0 and increasing, and scores from 0 to 100, "
        "e.g. [[1, 100], [24, 60], [72, 30]]."
    )
    if not isinstance(value, list):
        return {"response_time_bands": [message]}
    previous = 0.0
    for band in value:
        if (
            not isinstance(band, list | tuple)
            or len(band) != 2
            or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in band)
            or band[0] <= previous
            or not 0 <= band[1] <= 100
        ):
            return {"response_time_bands": [message]}
        previous = band[0]
    return {}


class LeadScoreSnapshot(models.Model):
    """A lead's score history: one row each time its score changes (capped per lead)."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="score_snapshots")
    score = models.PositiveSmallIntegerField(validators=[MaxValueValidator(100)])
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["lead", "-at"], name="lead_score_snapshot_idx")]

    def __str__(self) -> str:
        return f"{self.score} at {self.at:%Y-%m-%d %H:%M}"


class AutoQualification(models.Model):
    """That the system qualified a lead because of its score: it happens once per lead."""

    lead = models.OneToOneField(Lead, on_delete=models.CASCADE, related_name="auto_qualification")
    score = models.PositiveSmallIntegerField()
    threshold = models.PositiveSmallIntegerField()
    at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.lead_id}: {self.score} ≥ {self.threshold}"


class ConversionModel(models.Model):
    """A trained conversion-likelihood model (naive Bayes over field values, see
    ``leads.predictive``); the newest version is the one used."""

    version = models.PositiveIntegerField(unique=True)
    trained_at = models.DateTimeField(default=timezone.now)
    parameters = models.JSONField(default=dict)
    auc = models.FloatField(
        null=True, blank=True, help_text="Area under the ROC curve on the held-out split."
    )
    calibration = models.JSONField(
        default=dict,
        blank=True,
        help_text="Calibration on the held-out split (leads.predictive.calibration): per "
        "probability bin (low–high) its number of leads, their mean predicted probability "
        "and the share that converted; the Brier score (0 is perfect, 0.25 is always saying "
        "50 %) and n, the held-out leads. Empty for models trained before it was recorded.",
    )
    n_train = models.PositiveIntegerField(default=0)
    n_test = models.PositiveIntegerField(default=0)
    n_converted = models.PositiveIntegerField(default=0)
    n_disqualified = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-version"]
        get_latest_by = "version"

    def __str__(self) -> str:
        auc = f", AUC {self.auc:.3f}" if self.auc is not None else ""
        return f"v{self.version} trained {self.trained_at:%Y-%m-%d %H:%M}{auc}"
