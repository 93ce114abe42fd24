"""Fixtures shared by every app's tests."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission, User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from fulfil.celery import app as celery_app
from fulfil.processes import CeleryWorker
from scripts.receiver import Receiver, running_receiver


def _user(username: str, *, perms: tuple[str, ...] = (), staff: bool = False, superuser: bool = False) -> User:
    user = User.objects.create_user(
        username, f"{username}@example.com", "pw-for-tests-only", is_staff=staff or superuser, is_superuser=superuser
    )
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return user


@pytest.fixture
def make_user(db):
    return _user


@pytest.fixture
def admin_user(db) -> User:
    return _user("admin", superuser=True)


@pytest.fixture
def api(admin_user) -> APIClient:
    """An API client authenticated with a superuser's token."""
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=admin_user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def anon() -> APIClient:
    return APIClient()


@pytest.fixture
def client_for(db):
    """An API client logged in with a token as a user holding exactly `perms`."""

    def make(*perms: str, username: str = "limited") -> APIClient:
        user = _user(username, perms=perms)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
        return client

    return make


@pytest.fixture
def staff_client(client, admin_user):
    """Django's test client logged in to the admin as a superuser."""
    client.force_login(admin_user)
    return client


@pytest.fixture
def read_only_group(db) -> Group:
    group = Group.objects.create(name="Catalogue readers")
    group.permissions.add(Permission.objects.get(codename="view_product"))
    return group


@pytest.fixture
def services_env(transactional_db) -> dict[str, str]:
    """The environment that points another process (a worker, gunicorn) at the test database and broker."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    return {
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
    }


@pytest.fixture
def celery_worker_process(services_env):
    """Start real Celery workers: `start(queues, **options)`; all are stopped after the test.

    The test must use the database through transactions (this fixture requests
    transactional_db), since the worker is another process and sees only committed rows.
    """
    import redis
    from django.conf import settings

    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()  # no messages left by earlier tests
    workers: list[CeleryWorker] = []

    def start(
        queues: str = "default,imports,webhooks", *, env: dict | None = None, name: str = "test", **options
    ) -> CeleryWorker:
        worker = CeleryWorker(queues, env={**services_env, **(env or {})}, name=name, **options)
        workers.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture
def eager_celery():
    """Run tasks inline (unit flows); the real worker is used where the worker is the point."""
    previous = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager = celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = previous


@pytest.fixture
def receiver() -> Receiver:
    """A real HTTP server on loopback that records every request and answers as told."""
    with running_receiver() as receiver:
        yield receiver
