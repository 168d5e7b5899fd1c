from django import forms
from django.contrib import admin, messages
from django.db import models, transaction
from guardian.admin import GuardedModelAdmin
from simple_history.admin import SimpleHistoryAdmin

from leads.models import (
    AutoQualification,
    CaptureForm,
    ConversionModel,
    Lead,
    ScoringProfile,
    TouchPoint,
    new_capture_key,
)


class AutoQualificationInline(admin.StackedInline):
    model = AutoQualification
    extra = 0
    can_delete = False
    readonly_fields = ("score", "threshold", "at")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Lead)
class LeadAdmin(SimpleHistoryAdmin, GuardedModelAdmin):
    """Leads, soft-deleted ones included. Created, moved and scored by the app (the services
    start their workflow projects, the scoring engine writes the score); here they can be
    inspected and corrected."""

    list_display = (
        "name",
        "company_name",
        "source",
        "lead_score",
        "step",
        "is_qualified",
        "owner",
        "assigned_to",
        "created_at",
        "deleted_at",
    )
    list_filter = (
        "source",
        "is_qualified",
        "priority",
        "wfm_project__current_step__status",
        "created_at",
    )
    search_fields = ("name", "company_name", "contact_name", "contact_email")
    list_select_related = ("owner", "assigned_to", "wfm_project__current_step__status")
    autocomplete_fields = ("owner", "assigned_to", "person", "organization")
    readonly_fields = (
        "lead_score",
        "lead_score_factors",
        "score_updated_at",
        "wfm_project",
        "is_qualified",
        "qualified_at",
        "qualified_by",
        "converted_at",
        "converted_by",
        "converted_to_person",
        "converted_to_organization",
        "converted_to_deal",
        "assigned_at",
        "last_activity_at",
        "anonymized_at",
        "created_at",
        "updated_at",
        "created_by",
        "deleted_at",
        "merged_into",
        "merged_at",
    )
    inlines = [AutoQualificationInline]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    actions = ["restore_selected", "rescore_selected"]
    show_full_result_count = False  # counting 100k leads on every page costs more than it helps

    def get_queryset(self, request):
        return Lead.all_objects.all()

    def has_add_permission(self, request) -> bool:
        return False  # a lead needs its workflow project: create leads in the app

    @admin.display(description="Step", ordering="wfm_project__current_step__order")
    def step(self, obj: Lead) -> str:
        return obj.wfm_project.current_step.name

    @admin.action(description="Restore selected (undo soft delete)")
    def restore_selected(self, request, queryset):
        # A merged record stays merged: what pointed at it lives on the survivor now.
        restorable = queryset.exclude(deleted_at=None).filter(merged_into__isnull=True)
        count = restorable.update(deleted_at=None)
        merged = queryset.filter(merged_into__isnull=False).count()
        self.message_user(request, f"Restored {count} lead(s).", messages.SUCCESS)
        if merged:
            self.message_user(
                request,
                f"{merged} merged into another record cannot be restored.",
                messages.WARNING,
            )

    @admin.action(description="Recalculate the score of the selected leads")
    def rescore_selected(self, request, queryset):
        from leads.scoring.services import rescore_leads

        result = rescore_leads(Lead.objects.filter(pk__in=queryset.values("pk")), by=request.user)
        self.message_user(
            request,
            f"Rescored {result.scored} lead(s); {result.changed} score(s) changed, "
            f"{len(result.auto_qualified)} auto-qualified.",
            messages.SUCCESS,
        )


@admin.register(ScoringProfile)
class ScoringProfileAdmin(admin.ModelAdmin):
    """The scoring engine's settings (SPEC §6). One profile is active; editing it takes
    effect at the next rescore (the nightly run, an event, or the action below)."""

    list_display = (
        "name",
        "is_active",
        "weight_demographic",
        "weight_behavioural",
        "weight_interaction",
        "weight_ai",
        "auto_qualify_threshold",
        "updated_at",
    )
    actions = ["make_active", "rescore_now"]
    fieldsets = (
        (None, {"fields": ("name", "is_active", "description")}),
        (
            "Category weights",
            {
                "description": "Each category scores 0–100; the total is their weighted sum, "
                "the weights divided by their sum.",
                "fields": (
                    ("weight_demographic", "weight_behavioural"),
                    ("weight_interaction", "weight_ai"),
                ),
            },
        ),
        (
            "Demographic",
            {
                "fields": (
                    ("industry_field", "target_industries"),
                    ("company_size_field", "target_company_sizes"),
                    ("location_field", "target_locations"),
                    "source_values",
                )
            },
        ),
        (
            "Behavioural",
            {
                "fields": (
                    ("inbound_email_saturation", "form_submission_saturation"),
                    ("web_visit_saturation", "content_download_saturation"),
                    "engagement_window_days",
                    "activity_kinds",
                )
            },
        ),
        (
            "Interaction",
            {
                "fields": (
                    "response_time_bands",
                    ("calls_saturation", "meetings_saturation"),
                    "recency_half_life_days",
                )
            },
        ),
        ("Inactivity decay", {"fields": (("decay_after_days", "decay_half_life_days"),)}),
        ("Qualification", {"fields": ("auto_qualify_threshold",)}),
    )

    @admin.action(description="Make the selected profile the active one")
    def make_active(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one profile to activate.", messages.ERROR)
            return
        profile = queryset.get()
        with transaction.atomic():
            ScoringProfile.objects.exclude(pk=profile.pk).filter(is_active=True).update(
                is_active=False
            )
            ScoringProfile.objects.filter(pk=profile.pk).update(is_active=True)
        self.message_user(
            request,
            f"“{profile.name}” is now the active profile; scores follow it at the next rescore.",
            messages.SUCCESS,
        )

    @admin.action(description="Rescore every open lead now (in the background)")
    def rescore_now(self, request, queryset):
        from leads.tasks import rescore_all_leads

        transaction.on_commit(rescore_all_leads.delay)
        self.message_user(request, "Rescoring every open lead.", messages.SUCCESS)


@admin.register(ConversionModel)
class ConversionModelAdmin(admin.ModelAdmin):
    """Trained conversion-likelihood models (the newest is used). Trained nightly, by
    ``manage.py train_conversion_model``, or by the action below."""

    list_display = (
        "version",
        "trained_at",
        "auc",
        "n_train",
        "n_test",
        "n_converted",
        "n_disqualified",
    )
    readonly_fields = (
        "version",
        "trained_at",
        "auc",
        "n_train",
        "n_test",
        "n_converted",
        "n_disqualified",
        "calibration",
        "parameters",
    )
    actions = ["train_now"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Train a new version now")
    def train_now(self, request, queryset):
        from leads.predictive import train_conversion_model

        report = train_conversion_model()
        level = messages.SUCCESS if report.model else messages.WARNING
        self.message_user(request, report.message, level)


# --- web-to-lead capture (issue 15) --------------------------------------------------------------
class CaptureFormAdminForm(forms.ModelForm):
    """The same checks as the settings page (``leads.capture.services``)."""

    class Meta:
        model = CaptureForm
        fields = [
            "name",
            "slug",
            "is_active",
            "fields",
            "default_source",
            "default_sub_source",
            "owner",
            "workflow",
            "thank_you_message",
            "redirect_url",
            "allowed_origins",
        ]

    def clean_fields(self):
        from crm.errors import ValidationFailed
        from leads.capture.services import clean_fields

        try:
            return clean_fields(self.cleaned_data.get("fields") or [])
        except ValidationFailed as exc:
            raise forms.ValidationError(exc.details.get("fields") or exc.message) from exc

    def clean_allowed_origins(self):
        from crm.errors import ValidationFailed
        from leads.capture.services import clean_origins

        try:
            origins = self.cleaned_data.get("allowed_origins") or []
            if isinstance(origins, list):
                origins = [o.strip().rstrip("/") if isinstance(o, str) else o for o in origins]
            return clean_origins(origins)
        except ValidationFailed as exc:
            raise forms.ValidationError(exc.details.get("allowed_origins") or exc.message) from exc


@admin.register(CaptureForm)
class CaptureFormAdmin(admin.ModelAdmin):
    """Web-to-lead forms. Managers also edit them on Settings › Capture forms
    (/settings/capture-forms/), which shows each form's embed snippet and a preview."""

    form = CaptureFormAdminForm
    list_display = ("name", "slug", "default_source", "owner", "is_active", "updated_at")
    list_filter = ("is_active", "default_source")
    search_fields = ("name", "slug")
    readonly_fields = ("key", "created_at", "updated_at", "created_by")
    actions = ["rotate_keys"]

    @admin.action(description="Give the selected forms new keys")
    def rotate_keys(self, request, queryset) -> None:
        for capture_form in queryset:
            capture_form.key = new_capture_key()
            capture_form.save(update_fields=["key", "updated_at"])
        self.message_user(request, f"{queryset.count()} form(s) have new keys.", messages.SUCCESS)


@admin.register(TouchPoint)
class TouchPointAdmin(admin.ModelAdmin):
    """Marketing touches of leads (recorded by capture, import and the API; read-only here)."""

    list_display = ("lead", "channel", "utm_source", "utm_campaign", "form", "at")
    list_filter = ("channel",)
    search_fields = ("utm_source", "utm_campaign", "lead__name", "lead__contact_email")
    list_select_related = ("lead", "form")
    raw_id_fields = ("lead", "form")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
