"""Who may manage custom field definitions.

Managers (``customfields.add_/change_customfielddefinition`` in ``crm.roles``) and Admins may;
Sales Reps may too when ``settings.CUSTOM_FIELDS_EDITABLE_BY_REPS`` is on (a grant of
``crm.roles.SETTING_GRANTS``). ``crm.permissions`` decides; reading definitions is open to every
authenticated user: forms and tables need them.
"""

from __future__ import annotations

from typing import Literal

from crm import permissions

ManageAction = Literal["add", "change"]


def can_manage_custom_fields(user, action: ManageAction = "change") -> bool:
    return permissions.has_capability(user, f"customfields.{action}_customfielddefinition")
