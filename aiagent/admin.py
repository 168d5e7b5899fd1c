from django.contrib import admin

from aiagent.models import Conversation, Message, Proposal, ToolCall


class MessageInline(admin.TabularInline):
    model = Message
    fields = ["created_at", "role", "kind", "content"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["__str__", "user", "source", "context_type", "updated_at"]
    list_filter = ["source", "context_type"]
    search_fields = ["title", "user__username"]
    readonly_fields = [
        "user",
        "context_type",
        "context_id",
        "source",
        "running_since",
        "created_at",
        "updated_at",
    ]
    inlines = [MessageInline]


@admin.register(ToolCall)
class ToolCallAdmin(admin.ModelAdmin):
    """Every tool call, whoever asked: the AI audit trail (read only)."""

    list_display = ["created_at", "tool", "user", "source", "result_count", "duration_ms", "error"]
    list_filter = ["tool", "source"]
    search_fields = ["tool", "user__username", "arguments_hash"]
    readonly_fields = [f.name for f in ToolCall._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Proposal)
class ProposalAdmin(admin.ModelAdmin):
    list_display = ["created_at", "tool", "user", "status", "summary"]
    list_filter = ["status", "tool"]
    exclude = ["token"]
    readonly_fields = [
        "user",
        "conversation",
        "tool",
        "arguments",
        "arguments_hash",
        "summary",
        "status",
        "result",
        "error",
        "created_at",
        "expires_at",
        "decided_at",
    ]

    def has_add_permission(self, request):
        return False
