"""Who may manage custom field definitions.

Managers (``customfields.add_/change_customfielddefinition`` in ``crm.roles``) and Admins may;
Sales Reps may too when ``settings.CUSTOM_FIELDS_EDITABLE_BY_REPS`` is on. Reading definitions
is open to every authenticated user: forms and tables need them.
"""

from __future__ import annotations

from typing import Literal

from django.conf import settings

from crm.roles import Role

ManageAction = Literal["add", "change"]


def can_manage_custom_fields(user, action: ManageAction = "change") -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.has_perm(f"customfields.{action}_customfielddefinition"):
        return True
    if getattr(settings, "CUSTOM_FIELDS_EDITABLE_BY_REPS", False):
        return user.groups.filter(name=Role.SALES_REP.value).exists()
    return False
