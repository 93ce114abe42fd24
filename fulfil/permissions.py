from rest_framework import permissions


class ModelPermissions(permissions.DjangoModelPermissions):
    """Authenticated users, with Django's model permissions; reads need the view permission.

    DRF's class lets any authenticated user read; staff groups here are given read-only
    access by granting `view_*` alone, so reads check it too.
    """

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }
