from django.contrib import admin, messages
from guardian.admin import GuardedModelAdmin
from simple_history.admin import SimpleHistoryAdmin

from crm.errors import DomainError
from deals import services
from deals.models import Deal, LostReason


@admin.register(LostReason)
class LostReasonAdmin(admin.ModelAdmin):
    """The reasons offered when a deal is lost; users may still type their own."""

    list_display = ("name", "order", "is_active")
    list_editable = ("order", "is_active")
    search_fields = ("name",)


@admin.register(Deal)
class DealAdmin(SimpleHistoryAdmin, GuardedModelAdmin):
    """Deals, soft-deleted ones included. Created and moved from the app (the services start
    and move their pipeline projects); here they can be inspected, edited and restored."""

    list_display = (
        "name",
        "amount",
        "currency",
        "step",
        "owner",
        "assigned_to",
        "won_at",
        "lost_at",
        "deleted_at",
    )
    list_filter = ("wfm_project__current_step__status", "currency")
    search_fields = ("name", "organization__name")
    list_select_related = ("owner", "assigned_to", "wfm_project__current_step__status")
    autocomplete_fields = ("owner", "assigned_to", "person", "organization")
    readonly_fields = (
        "wfm_project",
        "won_at",
        "lost_at",
        "lost_reason",
        "assigned_at",
        "created_at",
        "updated_at",
        "created_by",
        "deleted_at",
    )
    actions = ["restore_selected"]

    def get_queryset(self, request):
        return Deal.all_objects.all()

    def has_add_permission(self, request) -> bool:
        return False  # a deal needs its pipeline project: create deals in the app

    @admin.display(description="Step", ordering="wfm_project__current_step__order")
    def step(self, obj: Deal) -> str:
        return obj.wfm_project.current_step.name

    @admin.action(description="Restore selected (undo soft delete)")
    def restore_selected(self, request, queryset):
        restored, refused = 0, []
        for deal in queryset.exclude(deleted_at=None):
            try:
                services.deal_restore(by=request.user, deal=deal)
            except DomainError as exc:
                refused.append(f"{deal}: {exc.message}")
            else:
                restored += 1
        self.message_user(request, f"Restored {restored} deal(s).", messages.SUCCESS)
        for message in refused:
            self.message_user(request, message, messages.WARNING)
