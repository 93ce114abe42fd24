"""What every benchmark shares: its database, Django's set-up, Celery workers, and percentiles.

Imported first by each benchmark: it puts the project root on sys.path, so `fulfil`, the apps
and scripts/receiver.py import as they do in the test suite.
"""

from __future__ import annotations

import os
import secrets
import statistics
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql

if TYPE_CHECKING:
    from fulfil.processes import CeleryWorker

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The Redis database the benchmarks' workers use (the test suite's default is 15).
BROKER_URL = "redis://127.0.0.1:6379/13"


def ensure_database(url: str) -> None:
    """Create the database `url` names when it is missing (connecting to `postgres` on the same server)."""
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(url, dbname="postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"created database {name}")


def django_setup(*, database_url: str, broker_url: str = "memory://", **environment: str) -> None:
    """Settings from the environment, production-like, then Django, started as gunicorn starts it.

    DEBUG is off (so no query log), the SECRET_KEY is thrown away after the run, FULFIL_ENV_FILE is
    /dev/null so a developer's .env is ignored, logs stop at WARNING, the test client's and
    loopback's host names are allowed, and neither throttles nor the web statement timeout get in
    the way; `environment` adds or overrides variables. They are set in
    os.environ, so the processes a benchmark starts (workers, gunicorn) run with the same settings.
    """
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "fulfil.settings",
            "FULFIL_ENV_FILE": os.devnull,
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": broker_url,
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(32),
            "ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
            "LOG_LEVEL": "WARNING",
            # A benchmark is a flood of its own making, and fills tables in long statements.
            **{f"API_THROTTLE_{scope}": "100000000/min" for scope in ("ANON", "WRITES", "UPLOADS", "WEBHOOK_TESTS")},
            "WEB_STATEMENT_TIMEOUT_MS": str(3_600_000),
            **environment,
        }
    )
    import django
    from django.conf import settings
    from django.test.utils import override_settings

    # whitenoise warns that there is no collected static directory; no benchmark needs one.
    warnings.filterwarnings("ignore", message="No directory at")
    django.setup()
    import fulfil.wsgi  # noqa: F401 - start-up as gunicorn does it (wsgi.py freezes start-up objects for the GC)

    # Production serves static files from a collected manifest; the benchmarks have none, so the
    # admin's {% static %} tags use plain storage (a dict lookup against a path join).
    override_settings(
        STORAGES={
            **settings.STORAGES,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
    ).enable()


def worker_start(queues: str, **options) -> CeleryWorker:
    """A real Celery worker (the test suite's, fulfil/processes.py) with this run's settings, once it
    answers; options as CeleryWorker takes them (pool, concurrency, name, env, log)."""
    from fulfil.processes import CeleryWorker

    worker = CeleryWorker(queues, loglevel="WARNING", **options)
    try:
        worker.wait_ready()
    except BaseException:
        worker.stop()
        raise
    return worker


def percentiles(samples: Sequence[float]) -> tuple[float, float]:
    """Median and 95th percentile, as every benchmark reports them: the 50th and 95th of the 99 cut
    points of statistics.quantiles(n=100, method="inclusive") (linear between the nearest samples)."""
    if len(samples) == 1:
        return samples[0], samples[0]
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49], cuts[94]
