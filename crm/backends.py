"""Django's permission backend with each user's role permissions read as reference data
(``crm.reference``): the two queries every request made for them (the user's own grants and
their groups') become one cache read, until a user, group, permission or grant changes.
Object permissions stay with django-guardian (``guardian.backends.ObjectPermissionBackend``)."""

from __future__ import annotations

from django.contrib.auth.backends import ModelBackend

from crm import reference


class ModelBackendWithCachedPermissions(ModelBackend):
    def _get_permissions(self, user_obj, obj, from_name):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        attribute = f"_{from_name}_perm_cache"  # where ModelBackend keeps them per request
        if not hasattr(user_obj, attribute):
            perms = reference.cached(
                f"permissions:{from_name}:{user_obj.pk}",
                lambda: super(ModelBackendWithCachedPermissions, self)._get_permissions(
                    user_obj, obj, from_name
                ),
            )
            setattr(user_obj, attribute, perms)
        return getattr(user_obj, attribute)
