"""Admin of email: templates, threads, messages (read-mostly) and address statuses."""

from __future__ import annotations

from django.contrib import admin

from emails.models import (
    EmailAddressStatus,
    EmailAttachment,
    EmailMessage,
    EmailTemplate,
    EmailThread,
)


@admin.register(EmailTemplate)
class EmailTemplateAdmin(admin.ModelAdmin):
    list_display = ("name", "subject", "is_active", "updated_at")
    list_filter = ("is_active",)
    search_fields = ("name", "subject", "body")
    readonly_fields = ("created_at", "updated_at", "created_by")


class EmailMessageInline(admin.TabularInline):
    model = EmailMessage
    fields = ("direction", "status", "from_address", "subject", "created_at")
    readonly_fields = fields
    extra = 0
    show_change_link = True
    can_delete = False


@admin.register(EmailThread)
class EmailThreadAdmin(admin.ModelAdmin):
    list_display = ("subject", "lead", "person", "deal", "last_message_at")
    search_fields = ("subject",)
    raw_id_fields = ("lead", "person", "deal")
    date_hierarchy = "last_message_at"
    inlines = [EmailMessageInline]


class EmailAttachmentInline(admin.TabularInline):
    model = EmailAttachment
    fields = ("filename", "content_type", "size", "file")
    readonly_fields = ("filename", "content_type", "size")
    extra = 0


@admin.register(EmailMessage)
class EmailMessageAdmin(admin.ModelAdmin):
    list_display = ("subject", "direction", "status", "from_address", "sender", "created_at")
    list_filter = ("direction", "status", "is_marketing")
    search_fields = ("subject", "message_id", "provider_message_id", "from_address")
    raw_id_fields = ("thread", "activity", "sender", "template")
    readonly_fields = ("created_at", "attempts", "error", "provider_message_id")
    list_select_related = ("sender",)
    date_hierarchy = "created_at"
    inlines = [EmailAttachmentInline]


@admin.register(EmailAddressStatus)
class EmailAddressStatusAdmin(admin.ModelAdmin):
    list_display = ("address", "status", "updated_at")
    list_filter = ("status",)
    search_fields = ("address", "reason")
