"""The staff back-office: Django's admin site with FulFil's own index page."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig
from django.urls import NoReverseMatch, reverse

from fulfil import permissions

# (URL name, title, what it is for, permissions needed): the index's "Start here" panel.
START_LINKS = (
    (
        "admin:products_product_changelist",
        "Products",
        "Browse, search and edit the catalogue.",
        ("products.view_product",),
    ),
    ("admin:imports_importjob_upload", "Import products", "Upload a CSV and watch it land.", permissions.IMPORT),
    (
        "admin:imports_importjob_changelist",
        "Imports",
        "Past and running imports: how each went, its counts and rejected rows.",
        ("imports.view_importjob",),
    ),
    (
        "admin:webhooks_webhook_changelist",
        "Webhooks",
        "Tell other systems about every change.",
        ("webhooks.view_webhook",),
    ),
)


# What only superusers see on the index and in the navigation: Celery's task results and the raw
# API token table are for whoever runs the system, not for catalogue staff.
SUPERUSER_ONLY_APPS = frozenset({"django_celery_results"})
SUPERUSER_ONLY_MODELS = frozenset({("authtoken", "tokenproxy"), ("authtoken", "token")})


class AdminSite(admin.AdminSite):
    site_header = "FulFil back-office"
    site_title = "FulFil"
    index_title = "Catalogue, imports and webhooks"
    index_template = "admin/fulfil_index.html"
    # The "Start here" index and the breadcrumbs lead everywhere; without the navigation sidebar
    # every list has the screen's width (the imports list fits 1366 pixels without scrolling).
    enable_nav_sidebar = False

    def index(self, request, extra_context=None):
        links = []
        for url_name, title, help_text, perms in START_LINKS:
            if not request.user.has_perms(perms):
                continue
            try:
                links.append({"url": reverse(url_name, current_app=self.name), "title": title, "help": help_text})
            except NoReverseMatch:
                continue
        return super().index(request, {"fulfil_links": links, **(extra_context or {})})

    def get_app_list(self, request, app_label=None):
        apps = super().get_app_list(request, app_label)
        if request.user.is_superuser:
            return apps
        shown = []
        for app in apps:
            if app["app_label"] in SUPERUSER_ONLY_APPS:
                continue
            label = app["app_label"]
            models = [m for m in app["models"] if (label, m["object_name"].lower()) not in SUPERUSER_ONLY_MODELS]
            if models:
                shown.append({**app, "models": models})
        return shown


class AdminConfig(DjangoAdminConfig):
    default_site = "fulfil.admin.AdminSite"
