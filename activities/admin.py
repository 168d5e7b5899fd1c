"""Admin of activities and automation (SPEC §1: administrators configure rules, sequences,
webhooks). Every rule part is validated by its model's ``clean`` when saved."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join

from activities import services, webhooks
from activities.automation import field_names
from activities.models import (
    TRIGGER_EVENTS,
    Activity,
    AssignmentRule,
    AutomationAction,
    AutomationCondition,
    AutomationRule,
    AutomationRun,
    Sequence,
    SequenceEnrollment,
    SequenceStep,
    WebhookDelivery,
    WebhookSubscription,
)
from crm import selectors as crm_selectors
from crm.events import EVENT_NAMES


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin):
    list_display = (
        "subject",
        "type",
        "assigned_to",
        "due_at",
        "is_done",
        "is_system_activity",
        "created_at",
    )
    list_filter = ("type", "is_done", "is_system_activity")
    search_fields = ("subject", "notes")
    raw_id_fields = ("assigned_to", "lead", "deal", "person", "organization")
    readonly_fields = ("created_at", "updated_at", "created_by")
    list_select_related = ("assigned_to",)
    date_hierarchy = "created_at"


# --- assignment rules ----------------------------------------------------------------------------
class AssignmentRuleForm(forms.ModelForm):
    sources = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Lead sources this rule handles; none ticked: every source.",
    )

    class Meta:
        model = AssignmentRule
        fields = ["name", "is_active", "order", "sources", "users"]

    def __init__(self, *args, **kwargs):
        from leads.models import Lead

        super().__init__(*args, **kwargs)
        self.fields["sources"].choices = Lead.Source.choices
        # Only users who may own leads rotate (the rotation skips anyone else too).
        self.fields["users"].queryset = crm_selectors.assignable_users(model=Lead, with_roles=False)


@admin.register(AssignmentRule)
class AssignmentRuleAdmin(admin.ModelAdmin):
    form = AssignmentRuleForm
    list_display = ("name", "is_active", "order", "source_list", "last_assigned", "assigned_count")
    list_editable = ("is_active", "order")
    filter_horizontal = ("users",)
    readonly_fields = ("last_assigned", "assigned_count")

    @admin.display(description="Sources")
    def source_list(self, obj):
        return ", ".join(obj.sources) or "all"

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


# --- automation rules ----------------------------------------------------------------------------
class ConditionInline(admin.TabularInline):
    model = AutomationCondition
    extra = 0
    verbose_name = "condition (all must hold)"
    verbose_name_plural = "conditions (all must hold)"


class ActionInline(admin.StackedInline):
    model = AutomationAction
    extra = 0
    verbose_name_plural = "actions (in order)"
    raw_id_fields = ("user", "step")
    fieldsets = (
        (None, {"fields": (("order", "type"),)}),
        (
            "Create an activity",
            {"fields": (("activity_type", "due_in_days"), "subject", "body"), "classes": ()},
        ),
        ("Assign", {"fields": (("user", "assignment_rule"),)}),
        ("Set a field", {"fields": (("field", "value"),)}),
        (
            "Move to a step / start a sequence / call a webhook",
            {"fields": (("step", "sequence", "webhook"),)},
        ),
    )


class AutomationRuleForm(forms.ModelForm):
    trigger = forms.ChoiceField(
        choices=[(n, n) for n in TRIGGER_EVENTS],
        help_text="The event that starts the rule. Conditions see the record it is about.",
    )

    class Meta:
        model = AutomationRule
        fields = ["name", "description", "trigger", "is_active", "order"]


@admin.register(AutomationRule)
class AutomationRuleAdmin(admin.ModelAdmin):
    form = AutomationRuleForm
    list_display = ("name", "trigger", "is_active", "order", "last_run")
    list_filter = ("is_active", "trigger")
    list_editable = ("is_active",)
    search_fields = ("name", "description")
    inlines = [ConditionInline, ActionInline]
    readonly_fields = ("fields_help", "recent_runs")
    fields = ("name", "description", "trigger", "is_active", "order", "fields_help", "recent_runs")

    @admin.display(description="Fields conditions can use")
    def fields_help(self, obj):
        if obj is None or not obj.pk:
            return "Save the rule once to see the fields of its trigger's record."
        names = field_names(obj.subject_kind)
        return format_html(
            "{}<br><span class='help'>Also custom fields as cf_&lt;name&gt; and event details as "
            "event.&lt;key&gt;. Templates: {{{}.name}} style placeholders.</span>",
            ", ".join(names),
            obj.subject_kind,
        )

    @admin.display(description="Recent runs")
    def recent_runs(self, obj):
        if obj is None or not obj.pk:
            return "—"
        runs = list(obj.runs.order_by("-at")[:10])
        if not runs:
            return "Not run yet."
        return format_html(
            "<ul style='margin:0;padding-left:1em'>{}</ul>",
            format_html_join(
                "",
                "<li>{} · event #{} · <strong>{}</strong> {}</li>",
                (
                    (f"{r.at:%Y-%m-%d %H:%M}", r.event_id, r.get_status_display(), r.error[:300])
                    for r in runs
                ),
            ),
        )

    @admin.display(description="Last run")
    def last_run(self, obj):
        run = obj.runs.order_by("-at").first()
        return f"{run.get_status_display()} {run.at:%Y-%m-%d %H:%M}" if run else "—"

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(AutomationRun)
class AutomationRunAdmin(admin.ModelAdmin):
    """The run log: every run of every rule, with the error of failed ones."""

    list_display = ("at", "rule", "event", "status", "short_error")
    list_filter = ("status", "rule")
    list_select_related = ("rule", "event")
    readonly_fields = ("rule", "event", "status", "error", "details", "at")

    @admin.display(description="Error")
    def short_error(self, obj):
        return obj.error[:120]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# --- sequences -----------------------------------------------------------------------------------
class StepInline(admin.TabularInline):
    model = SequenceStep
    extra = 1
    fields = ("order", "delay_days", "kind", "activity_type", "subject", "body", "email_template")


@admin.register(Sequence)
class SequenceAdmin(admin.ModelAdmin):
    list_display = ("name", "is_active", "step_count", "active_enrollments")
    list_filter = ("is_active",)
    inlines = [StepInline]

    @admin.display(description="Steps")
    def step_count(self, obj):
        return obj.steps.count()

    @admin.display(description="Active enrolments")
    def active_enrollments(self, obj):
        return obj.enrollments.filter(status=SequenceEnrollment.Status.ACTIVE).count()

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(SequenceEnrollment)
class SequenceEnrollmentAdmin(admin.ModelAdmin):
    list_display = (
        "lead",
        "sequence",
        "status",
        "steps_done",
        "next_run_at",
        "enrolled_at",
        "stop_reason",
    )
    list_filter = ("status", "sequence")
    list_select_related = ("lead", "sequence")
    raw_id_fields = ("lead", "enrolled_by")
    readonly_fields = [f.name for f in SequenceEnrollment._meta.fields]
    actions = ["stop_selected"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Stop selected enrolments")
    def stop_selected(self, request, queryset):
        count = 0
        for lead_id in set(queryset.filter(status="active").values_list("lead_id", flat=True)):
            count += services.sequence_stop_for_lead(
                lead_id=lead_id, reason=f"Stopped in the admin by {request.user.display_name}."
            )
        self.message_user(request, f"Stopped {count} enrolment(s).", messages.SUCCESS)


# --- webhooks ------------------------------------------------------------------------------------
class WebhookSubscriptionForm(forms.ModelForm):
    url = forms.URLField(
        max_length=1000, assume_scheme="https", help_text="An http:// or https:// address."
    )
    events = forms.MultipleChoiceField(
        choices=[(n, n) for n in sorted(EVENT_NAMES)],
        widget=forms.CheckboxSelectMultiple,
        help_text="The events POSTed to the URL.",
    )

    class Meta:
        model = WebhookSubscription
        fields = ["name", "url", "events", "is_active"]


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    form = WebhookSubscriptionForm
    list_display = ("name", "url", "is_active", "event_list", "failed_deliveries")
    list_filter = ("is_active",)
    readonly_fields = ("secret", "signature_help")
    actions = ["rotate_secret"]

    @admin.display(description="Events")
    def event_list(self, obj):
        return ", ".join(obj.events)

    @admin.display(description="Failed deliveries")
    def failed_deliveries(self, obj):
        return obj.deliveries.filter(status=WebhookDelivery.Status.FAILED).count()

    @admin.display(description="How receivers verify")
    def signature_help(self, obj):
        return (
            "Each POST carries X-PipeCRM-Event, X-PipeCRM-Delivery and X-PipeCRM-Signature: "
            "sha256=<hex HMAC-SHA256 of the raw body, keyed with the secret>."
        )

    @admin.action(description="Generate a new secret")
    def rotate_secret(self, request, queryset):
        for subscription in queryset:
            webhooks.subscription_update(
                by=request.user, subscription=subscription, data={"rotate_secret": True}
            )
        self.message_user(request, "New secrets generated.", messages.SUCCESS)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """The delivery log: status code, attempts, error, response excerpt."""

    list_display = (
        "created_at",
        "subscription",
        "event_name",
        "status",
        "attempts",
        "response_status",
        "short_error",
    )
    list_filter = ("status", "subscription", "event_name")
    list_select_related = ("subscription",)
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
    actions = ["retry_selected"]

    @admin.display(description="Error")
    def short_error(self, obj):
        return obj.error[:120]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Send selected failed deliveries again")
    def retry_selected(self, request, queryset):
        count = 0
        for delivery in queryset.filter(status=WebhookDelivery.Status.FAILED):
            webhooks.delivery_retry(delivery=delivery)
            count += 1
        self.message_user(request, f"{count} delivery(ies) queued again.", messages.SUCCESS)
