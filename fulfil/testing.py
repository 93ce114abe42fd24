"""pytest plugin (loaded with `-p fulfil.testing` from pytest.ini, before Django's settings).

It points the suite at the real services, PostgreSQL and Redis on this machine unless
DATABASE_URL and CELERY_BROKER_URL say otherwise, and stops the run at once with a message
saying how to start them when they are down: a missing service never turns into skipped tests.
The helpers the tests use live where the benchmarks and scripts use them too: real Celery workers
and `wait_until` in fulfil/processes.py, the recording HTTP receiver in scripts/receiver.py.
"""

from __future__ import annotations

import os
import socket
import tempfile
from urllib.parse import urlsplit

import pytest

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/fulfil")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
# Uploaded files go to a scratch folder, shared with any worker the tests start.
os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp(prefix="fulfil-test-media-"))
# Throttles at rates no test reaches by accident (the throttle tests lower them in settings).
for _scope in ("ANON", "WRITES", "UPLOADS", "WEBHOOK_TESTS"):
    os.environ.setdefault(f"API_THROTTLE_{_scope}", "1000000/min")
# A developer's .env must not redirect the suite to another database.
os.environ["FULFIL_ENV_FILE"] = os.devnull
# Under pytest-xdist (`make test` runs two processes) each process has a test database of its own
# (pytest-django names it) and a Redis database of its own, which its tests flush and start Celery
# workers on: gw0 keeps the one given, gw1 takes the one below it, and so on.
if _xdist_worker := os.environ.get("PYTEST_XDIST_WORKER"):
    _broker = urlsplit(os.environ["CELERY_BROKER_URL"])
    if _broker.scheme.startswith("redis"):
        _db = (int(_broker.path.strip("/") or 0) - int(_xdist_worker.removeprefix("gw"))) % 16
        os.environ["CELERY_BROKER_URL"] = _broker._replace(path=f"/{_db}").geturl()

HOW_TO_START = {
    "PostgreSQL": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
    "   (or: docker compose up -d postgres)",
    "Redis": 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no'
    "   (or: docker compose up -d redis)",
}


def _reachable(url: str, default_port: int) -> tuple[str, int, bool]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    try:
        with socket.create_connection((host, port), timeout=3):
            return host, port, True
    except OSError:
        return host, port, False


def pytest_sessionstart(session: pytest.Session) -> None:
    missing = []
    checks = (
        ("PostgreSQL", os.environ["DATABASE_URL"], ("postgres", "postgresql", "pgsql", "psql"), 5432),
        ("Redis", os.environ["CELERY_BROKER_URL"], ("redis", "rediss"), 6379),
    )
    for name, url, schemes, port in checks:
        if urlsplit(url).scheme not in schemes:
            continue
        host, port, ok = _reachable(url, port)
        if not ok:
            missing.append(f"  {name} is not reachable at {host}:{port}. Start it with:\n    {HOW_TO_START[name]}")
    if missing:
        pytest.exit("The test suite needs its services:\n" + "\n".join(missing), returncode=3)
