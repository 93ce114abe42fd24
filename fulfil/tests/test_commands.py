from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

pytestmark = pytest.mark.django_db


@pytest.mark.quickstart
def test_ensure_admin_creates_one_admin_and_prints_how_to_log_in(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    first, again = io.StringIO(), io.StringIO()
    call_command("ensure_admin", url="http://127.0.0.1:8000/admin/", stdout=first)
    call_command("ensure_admin", url="http://127.0.0.1:8000/admin/", stdout=again)
    user = User.objects.get()
    assert user.is_superuser and user.username == "admin"
    username, password = (tmp_path / "admin-password.txt").read_text().split()
    assert user.check_password(password)
    assert first.getvalue().strip() == f"Log in at http://127.0.0.1:8000/admin/ as admin / {password}"
    assert again.getvalue() == first.getvalue()


def test_ensure_admin_leaves_an_existing_superuser_alone(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    User.objects.create_superuser("boss", "b@example.com", "secret-pw-1")
    out = io.StringIO()
    call_command("ensure_admin", stdout=out)
    assert User.objects.count() == 1
    assert "changepassword" in out.getvalue()
