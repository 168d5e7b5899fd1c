"""The five roles (SPEC §9). They are Django groups, created by a data migration.

Roles limited to their own records hold no model-level view/change permission on the main
records: "see all" and "change all" come from explicit ``view_all_*`` / ``change_all_*``
permissions, which the permission helper (``crm.permissions``) reads.
"""

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "Admin"
    MANAGER = "Manager"
    SALES_REP = "Sales Rep"
    ANALYST = "Analyst"
    VIEWER = "Viewer"


ROLE_ORDER = [Role.ADMIN, Role.MANAGER, Role.SALES_REP, Role.ANALYST, Role.VIEWER]


# Model-level permissions of each role, as "app_label.codename". One table for the whole
# product: each app's data migration calls ``sync_roles`` once its models exist, and the
# permissions of apps not yet migrated are skipped. Admin holds every permission.
ROLE_PERMISSIONS: dict[Role, list[str]] = {
    Role.MANAGER: [
        "crm.add_person",
        "crm.view_all_people",
        "crm.change_all_people",
        "crm.add_organization",
        "crm.view_all_organizations",
        "crm.change_all_organizations",
        "leads.add_lead",
        "leads.view_all_leads",
        "leads.change_all_leads",
        "leads.reassign_lead",
        "deals.add_deal",
        "deals.view_all_deals",
        "deals.change_all_deals",
        "deals.reassign_deal",
        "activities.add_activity",
        "activities.view_all_activities",
        "activities.change_all_activities",
        "customfields.add_customfielddefinition",
        "customfields.change_customfielddefinition",
        "customfields.view_customfielddefinition",
        "activities.add_automationrule",
        "activities.change_automationrule",
        "activities.view_automationrule",
        "activities.add_assignmentrule",
        "activities.change_assignmentrule",
        "activities.view_assignmentrule",
        "leads.add_captureform",
        "leads.change_captureform",
        "leads.delete_captureform",
        "leads.view_captureform",
        "emails.add_emailtemplate",
        "emails.change_emailtemplate",
        "emails.view_emailtemplate",
        "wfm.view_status",
        "wfm.view_workflow",
        "wfm.view_workflowstep",
        "wfm.view_workflowtransition",
        "wfm.view_projecttype",
    ],
    Role.SALES_REP: [
        "crm.add_person",
        "crm.add_organization",
        "leads.add_lead",
        "deals.add_deal",
        "activities.add_activity",
    ],
    Role.ANALYST: [
        "crm.view_all_people",
        "crm.view_all_organizations",
        "leads.view_all_leads",
        "deals.view_all_deals",
        "activities.view_all_activities",
        "crm.view_dashboards",
    ],
    Role.VIEWER: [],
}


# Permissions a setting adds to a role (setting name: role, permissions). They are not stored
# on the group: ``crm.permissions.has_capability`` reads them, so flipping the setting needs no
# migration.
SETTING_GRANTS: dict[str, tuple[Role, tuple[str, ...]]] = {
    "CUSTOM_FIELDS_EDITABLE_BY_REPS": (
        Role.SALES_REP,
        (
            "customfields.add_customfielddefinition",
            "customfields.change_customfielddefinition",
        ),
    ),
    # Exporting and anonymizing a person's or a lead's personal data (issue 18): Admins
    # always, Managers when this setting says so.
    "PRIVACY_MANAGERS_MANAGE_PERSONAL_DATA": (
        Role.MANAGER,
        ("privacy.manage_personal_data",),
    ),
}


def sync_roles(apps, schema_editor) -> None:
    """Data-migration step: create the role groups and (re)assign their permissions."""
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        # Permissions are normally created after migrate; create them now so roles get them.
        # Historical app configs have no models module, which create_permissions requires.
        original = getattr(app_config, "models_module", None)
        app_config.models_module = original or True
        try:
            create_permissions(app_config, apps=apps, verbosity=0)
        finally:
            app_config.models_module = original

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    by_key = {
        f"{p.content_type.app_label}.{p.codename}": p
        for p in Permission.objects.select_related("content_type")
    }
    for role in ROLE_ORDER:
        group, _ = Group.objects.get_or_create(name=role.value)
        if role == Role.ADMIN:
            group.permissions.set(by_key.values())
        else:
            group.permissions.set([by_key[k] for k in ROLE_PERMISSIONS[role] if k in by_key])
