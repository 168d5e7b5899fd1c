from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from guardian.admin import GuardedModelAdmin
from simple_history.admin import SimpleHistoryAdmin

from crm import events
from crm.models import AuditLog, Event, HandlerRun, Organization, Person, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "email", "first_name", "last_name", "role", "is_active", "is_away")
    list_filter = ("groups", "is_active", "is_staff", "is_away")
    fieldsets = (
        *BaseUserAdmin.fieldsets,
        ("Availability", {"fields": ("is_away",)}),
    )

    @admin.display(description="Role")
    def role(self, obj):
        return obj.role

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")


class RecordAdmin(SimpleHistoryAdmin, GuardedModelAdmin):
    """People and organizations; soft-deleted rows included, with restore."""

    readonly_fields = (
        "created_at",
        "updated_at",
        "created_by",
        "deleted_at",
        "merged_into",
        "merged_at",
    )
    actions = ["restore_selected"]

    def get_queryset(self, request):
        return self.model.all_objects.all()

    @admin.action(description="Restore selected (undo soft delete)")
    def restore_selected(self, request, queryset):
        # A merged record stays merged: what pointed at it lives on the survivor now.
        restorable = queryset.exclude(deleted_at=None).filter(merged_into__isnull=True)
        count = restorable.update(deleted_at=None)
        merged = queryset.filter(merged_into__isnull=False).count()
        self.message_user(request, f"Restored {count} record(s).", messages.SUCCESS)
        if merged:
            self.message_user(
                request,
                f"{merged} merged into another record cannot be restored.",
                messages.WARNING,
            )


@admin.register(Organization)
class OrganizationAdmin(RecordAdmin):
    list_display = ("name", "domain", "industry", "size", "owner", "created_at", "deleted_at")
    list_filter = ("industry", "size")
    search_fields = ("name", "domain")
    autocomplete_fields = ("owner",)


@admin.register(Person)
class PersonAdmin(RecordAdmin):
    list_display = ("__str__", "email", "organization", "owner", "created_at", "deleted_at")
    search_fields = ("first_name", "last_name", "email")
    autocomplete_fields = ("owner", "organization")
    list_select_related = ("organization", "owner")


class HandlerRunInline(admin.TabularInline):
    model = HandlerRun
    extra = 0
    readonly_fields = ("handler", "status", "attempts", "error", "started_at", "finished_at")
    can_delete = False


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "name",
        "status",
        "actor",
        "created_at",
        "processed_at",
        "dispatch_count",
        "next_attempt_at",
    )
    list_filter = ("status", "name")
    readonly_fields = [f.name for f in Event._meta.fields]
    inlines = [HandlerRunInline]
    actions = ["retry_selected"]

    @admin.action(description="Retry selected events (failed and dead handlers run again)")
    def retry_selected(self, request, queryset):
        count = events.retry(queryset.values_list("pk", flat=True))
        self.message_user(request, f"Dispatched {count} event(s) again.", messages.SUCCESS)

    def has_add_permission(self, request):
        return False


@admin.register(HandlerRun)
class HandlerRunAdmin(admin.ModelAdmin):
    """Each handler's runs: the failed (retrying) and dead ones at a glance."""

    list_display = ("event", "handler", "status", "attempts", "started_at", "finished_at")
    list_filter = ("status", "handler")
    list_select_related = ("event",)
    readonly_fields = (
        "event",
        "handler",
        "status",
        "attempts",
        "error",
        "started_at",
        "finished_at",
    )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    list_display = ("at", "user", "action", "object_type", "object_id")
    list_filter = ("action",)
    readonly_fields = ("at", "user", "action", "object_type", "object_id", "details")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
