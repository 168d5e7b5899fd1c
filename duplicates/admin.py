from django.contrib import admin

from duplicates.models import DuplicateCandidate, DuplicateRun


@admin.register(DuplicateCandidate)
class DuplicateCandidateAdmin(admin.ModelAdmin):
    """Read-only: pairs are found by the finder and dismissed from the Duplicates page."""

    list_display = ("kind", "first_id", "second_id", "score", "found_at", "dismissed_at")
    list_filter = ("kind", ("dismissed_at", admin.EmptyFieldListFilter))
    search_fields = ("first_id", "second_id")
    ordering = ("-score", "-found_at")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(DuplicateRun)
class DuplicateRunAdmin(admin.ModelAdmin):
    list_display = ("started_at", "finished_at", "full", "records_checked", "pairs_found")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
