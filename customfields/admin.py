"""Admin for custom field definitions. Saves and actions go through ``customfields.services``;
the form runs the same checks first so that every refusal shows inline, next to its input."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest

from crm.errors import DomainError
from customfields import services
from customfields.forms import OptionsField
from customfields.models import CustomFieldDefinition

CREATE_FIELDS = (
    "entity_type",
    "name",
    "label",
    "type",
    "options",
    "is_required",
    "help_text",
    "show_in_table",
    "display_order",
)


class CustomFieldDefinitionForm(forms.ModelForm):
    options = OptionsField(
        required=False,
        help_text=CustomFieldDefinition._meta.get_field("options").help_text,
    )

    class Meta:
        model = CustomFieldDefinition
        fields = (*CREATE_FIELDS, "is_active")

    def clean(self):
        cleaned = super().clean()
        # Model validation (name, options vs type, uniqueness) runs in _post_clean; what only
        # the service knows, whether a removed option is still in use, is checked here.
        if self.instance.pk and "options" in self.changed_data and "options" in cleaned:
            try:
                services.check_options_change(field=self.instance, options=cleaned["options"])
            except DomainError as exc:
                for message in exc.details.get("options", [exc.message]):
                    self.add_error("options", message)
        return cleaned


@admin.register(CustomFieldDefinition)
class CustomFieldDefinitionAdmin(admin.ModelAdmin):
    form = CustomFieldDefinitionForm
    list_display = (
        "label",
        "name",
        "entity_type",
        "type",
        "is_required",
        "show_in_table",
        "display_order",
        "is_active",
    )
    list_display_links = ("label",)
    list_editable = ("display_order", "is_active")
    list_filter = ("entity_type", "type", "is_active", "is_required", "show_in_table")
    search_fields = ("name", "label")
    ordering = ("entity_type", "display_order", "name")
    actions = ("activate_fields", "deactivate_fields")
    fieldsets = (
        (None, {"fields": ("entity_type", "name", "label", "type", "options", "help_text")}),
        ("Behaviour", {"fields": ("is_required", "is_active", "show_in_table", "display_order")}),
        ("Record", {"fields": ("created_at", "updated_at", "created_by")}),
    )

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        always = ("created_at", "updated_at", "created_by")
        if obj is None:
            return always
        # What the stored values mean is fixed once the field exists.
        return ("entity_type", "name", "type", *always)

    def get_fieldsets(self, request: HttpRequest, obj=None):
        if obj is None:
            return (
                (None, {"fields": ("entity_type", "name", "label", "type", "options")}),
                ("Behaviour", {"fields": ("help_text", "is_required", "show_in_table")}),
            )
        return self.fieldsets

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        # Records keep their values; a field is deactivated, never deleted.
        return False

    def save_model(self, request: HttpRequest, obj, form, change: bool) -> None:
        if change:
            changes = {
                name: form.cleaned_data[name]
                for name in form.changed_data
                if name in services.UPDATABLE and name in form.cleaned_data
            }
            current = CustomFieldDefinition.objects.get(pk=obj.pk)
            saved = services.custom_field_update(by=request.user, field=current, **changes)
        else:
            values = {
                name: form.cleaned_data[name] for name in CREATE_FIELDS if name in form.cleaned_data
            }
            saved = services.custom_field_create(by=request.user, **values)
        # The admin logs and redirects with ``obj``: make it the saved row.
        for model_field in CustomFieldDefinition._meta.concrete_fields:
            setattr(obj, model_field.attname, getattr(saved, model_field.attname))
        obj._state.adding = False
        obj._state.db = saved._state.db

    def _set_active(self, request: HttpRequest, queryset, active: bool) -> None:
        service = services.custom_field_activate if active else services.custom_field_deactivate
        done = 0
        for field in queryset:
            if field.is_active == active:
                continue
            try:
                service(by=request.user, field=field)
            except DomainError as exc:
                self.message_user(request, f"{field}: {exc.message}", messages.ERROR)
                continue
            done += 1
        word = "activated" if active else "deactivated"
        self.message_user(request, f"{done} custom field(s) {word}.", messages.SUCCESS)

    @admin.action(description="Activate selected custom fields", permissions=["change"])
    def activate_fields(self, request: HttpRequest, queryset) -> None:
        self._set_active(request, queryset, True)

    @admin.action(
        description="Deactivate selected custom fields (values are kept)", permissions=["change"]
    )
    def deactivate_fields(self, request: HttpRequest, queryset) -> None:
        self._set_active(request, queryset, False)
