from django.contrib import admin

from privacy.models import AccessLogEntry, Consent


@admin.register(AccessLogEntry)
class AccessLogEntryAdmin(admin.ModelAdmin):
    """Who viewed, exported or anonymized whose personal data: read-only; Admins only, as
    only the Admin role holds ``privacy.view_accesslogentry``."""

    list_display = ("at", "user", "action", "record_type", "record_id", "channel", "reason")
    list_filter = ("action", "record_type", "channel")
    search_fields = ("record_id", "user__username", "reason")
    date_hierarchy = "at"
    list_select_related = ("user",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Consent)
class ConsentAdmin(admin.ModelAdmin):
    """Consents are evidence: never edited, only added (a withdrawal is a new record)."""

    list_display = ("at", "purpose", "status", "source", "lead", "person", "form")
    list_filter = ("purpose", "status", "source")
    raw_id_fields = ("lead", "person", "form", "recorded_by")
    list_select_related = ("lead", "person", "form")

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
