"""The back-office's home page as a member of staff (not a superuser) sees it."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User

from fulfil.tests.browser.conftest import PASSWORD, fits_the_width, log_in

pytestmark = pytest.mark.browser


def test_staff_see_the_catalogue_imports_and_webhooks_not_task_results_or_raw_tokens(page, shot, transactional_db):
    clerk = User.objects.create_user("clerk", "clerk@example.com", PASSWORD, is_staff=True)
    codenames = ("view_product", "change_product", "view_importjob", "add_importjob", "view_webhook",
                 "view_taskresult", "view_tokenproxy", "add_tokenproxy")  # fmt: skip
    clerk.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    log_in(page, "clerk")
    shot("home")
    assert page.locator("#fulfil-start th a").all_inner_texts() == ["Products", "Imports", "Webhooks"]
    models = page.locator("#content-main .module[class*=app-] th[scope=row]").all_inner_texts()
    assert models == ["Imports", "Products", "Webhook deliveries", "Webhooks"], models
    assert page.locator(".app-django_celery_results, .model-tokenproxy").count() == 0
    assert page.locator("#nav-sidebar").count() == 0 and fits_the_width(page, "html")
