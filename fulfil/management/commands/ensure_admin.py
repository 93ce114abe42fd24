"""Create the first admin account when there is none, and say how to log in (used by `make run`)."""

from __future__ import annotations

import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create an admin account if no superuser exists, and print how to log in."

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("ADMIN_USERNAME", "admin"))
        parser.add_argument("--url", default="http://127.0.0.1:8000/admin/")

    def handle(self, *args, username: str, url: str, **options):
        users = get_user_model()
        credentials = settings.VAR_DIR / "admin-password.txt"
        if not users.objects.filter(is_superuser=True).exists():
            password = os.environ.get("ADMIN_PASSWORD") or secrets.token_urlsafe(12)
            users.objects.create_superuser(username, f"{username}@localhost", password)
            credentials.parent.mkdir(parents=True, exist_ok=True)
            credentials.write_text(f"{username}\n{password}\n")
            credentials.chmod(0o600)
        saved = credentials.read_text().split() if credentials.exists() else []
        user = users.objects.filter(username=saved[0]).first() if len(saved) == 2 else None
        if user and user.check_password(saved[1]):
            self.stdout.write(self.style.SUCCESS(f"Log in at {url} as {saved[0]} / {saved[1]}"))
        else:
            self.stdout.write(
                f"Log in at {url} with your admin account "
                "(forgotten the password? python manage.py changepassword USERNAME)"
            )
