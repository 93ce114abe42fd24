"""Who may do what in the API: Django's model permissions, in one place, for every viewset.

Reads need the `view` permission (DRF's own class lets any authenticated user read; staff groups
here are given read-only access by granting `view_*` alone). A viewset's `action_permissions`
names the permissions of an action that is not a plain read or write of its own model (an import
needs to add and change products too); the admin checks the same tuples.
"""

from __future__ import annotations

from typing import Any

from rest_framework import permissions
from rest_framework.request import Request

# Importing creates and changes products, so it needs those permissions besides its own.
IMPORT = ("imports.add_importjob", "products.add_product", "products.change_product")
VIEW_IMPORTS = ("imports.view_importjob",)
DELETE_PRODUCTS = ("products.delete_product",)
CHANGE_WEBHOOKS = ("webhooks.change_webhook",)


class ModelPermissions(permissions.DjangoModelPermissions):
    """Model permissions by method (reads need `view`), or by the view's `action_permissions`."""

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request: Request, view: Any) -> bool:
        required = getattr(view, "action_permissions", {}).get(getattr(view, "action", None))
        if required is None:
            return super().has_permission(request, view)
        return bool(request.user and request.user.is_authenticated and request.user.has_perms(required))


class IsSuperuser(permissions.BasePermission):
    """Celery operations can cancel anyone's import or delete-all: superusers only."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_superuser)
