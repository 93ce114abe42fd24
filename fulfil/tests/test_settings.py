"""Start-up configuration: every setting comes from the environment and bad values fail loudly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def start(show: str = "settings.DEBUG", **env: str) -> subprocess.CompletedProcess:
    """Import the settings in a fresh interpreter with exactly this environment; print `show`."""
    clean = {k: v for k, v in os.environ.items() if k not in _SETTINGS}
    clean.update(env, FULFIL_ENV_FILE=os.devnull, DJANGO_SETTINGS_MODULE="fulfil.settings")
    script = f"import django; django.setup(); from django.conf import settings; print({show})"
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


_SETTINGS = {
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "CORS_ORIGINS",
    "AWS_STORAGE_BUCKET_NAME",
    "AWS_S3_ENDPOINT_URL",
    "SENTRY_DSN",
    "METRICS_TOKEN",
}


@pytest.mark.parametrize(
    "env, named",
    [
        ({"DEBUG": "maybe"}, "DEBUG"),
        ({"DEBUG": "false", "ALLOWED_HOSTS": "example.com"}, "SECRET_KEY"),
        ({"DEBUG": "false", "ALLOWED_HOSTS": "example.com", "SECRET_KEY": "change-me"}, "SECRET_KEY"),
        ({"DEBUG": "false", "ALLOWED_HOSTS": "example.com", "SECRET_KEY": "short-key"}, "SECRET_KEY"),
        ({"DEBUG": "false", "SECRET_KEY": "x" * 50}, "ALLOWED_HOSTS"),
        ({"DEBUG": "true", "DATABASE_URL": "mysql2://nope"}, "DATABASE_URL"),
        ({"DEBUG": "true", "CELERY_BROKER_URL": "localhost:6379"}, "CELERY_BROKER_URL"),
        ({"DEBUG": "true", "CSRF_TRUSTED_ORIGINS": "example.com"}, "CSRF_TRUSTED_ORIGINS"),
        ({"DEBUG": "true", "CORS_ORIGINS": "ftp://example.com"}, "CORS_ORIGINS"),
        ({"DEBUG": "true", "DATABASE_CONN_MAX_AGE": "soon"}, "DATABASE_CONN_MAX_AGE"),
        ({"DEBUG": "true", "AWS_S3_ENDPOINT_URL": "http://minio:9000"}, "AWS_STORAGE_BUCKET_NAME"),
        ({"DEBUG": "true", "METRICS_TOKEN": "short"}, "METRICS_TOKEN"),
        ({"DEBUG": "true", "SENTRY_DSN": "key@sentry.example.com/7"}, "SENTRY_DSN"),
        ({"DEBUG": "true", "AWS_STORAGE_BUCKET_NAME": "b", "AWS_S3_ENDPOINT_URL": "minio:9000"}, "AWS_S3_ENDPOINT_URL"),
    ],
)
def test_bad_values_fail_at_start_up_naming_the_setting(env, named):
    result = start(**env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert named in result.stderr.strip().splitlines()[-1]


@pytest.mark.quickstart
def test_embedded_defaults_need_no_server():
    show = "settings.DATABASES['default']['ENGINE'], settings.CELERY_BROKER_URL, settings.CELERY_RESULT_BACKEND"
    show += ", settings.STORAGES['default']['BACKEND']"
    result = start(show, DEBUG="true")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.sqlite3",
        "filesystem://localhost/",
        "django-db",
        "django.core.files.storage.FileSystemStorage",
    ]


@pytest.mark.quickstart
def test_the_embedded_broker_names_a_host_so_kombu_does_not_warn_on_every_message(tmp_path):
    # Connection.info() is what kombu reads when it sends: it warned "No hostname was supplied".
    result = start("__import__('fulfil.celery').celery.app.connection().info()['hostname']", DEBUG="true",
                   DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", LOG_FORMAT="text")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "localhost" and "No hostname" not in result.stderr


def test_a_bucket_keeps_uploads_in_object_storage():
    show = "settings.STORAGES['default']['BACKEND'], settings.AWS_S3_ADDRESSING_STYLE"
    result = start(show, DEBUG="true", AWS_STORAGE_BUCKET_NAME="fulfil", AWS_S3_ENDPOINT_URL="http://minio:9000")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["storages.backends.s3.S3Storage", "path"]


def test_production_values_are_accepted():
    result = start(
        DEBUG="false",
        SECRET_KEY="a-long-random-production-secret-key-0123456789-abcdefghijkl",
        ALLOWED_HOSTS="fulfil.example.com",
        CSRF_TRUSTED_ORIGINS="https://fulfil.example.com",
        CORS_ORIGINS="https://shop.example.com",
        DATABASE_URL="postgres://fulfil:pw@db:5432/fulfil",
        CELERY_BROKER_URL="redis://redis:6379/0",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_sentry_is_set_up_with_its_django_and_celery_integrations_only_when_a_dsn_is_set():
    show = "(lambda c: (c.is_active(), sorted(getattr(c, 'integrations', {}))))(__import__('sentry_sdk').get_client())"
    off = start(show, DEBUG="true")
    assert off.returncode == 0, off.stderr
    assert off.stdout.strip() == "(False, [])"
    on = start(show, DEBUG="true", SENTRY_DSN="https://key@sentry.example.com/7")
    assert on.returncode == 0, on.stderr
    assert on.stdout.startswith("(True, [") and "'celery'" in on.stdout and "'django'" in on.stdout


def test_env_example_lists_every_setting_the_code_reads():
    example = (ROOT / ".env.example").read_text()
    names = {line.split("=", 1)[0].lstrip("# ").strip() for line in example.splitlines() if "=" in line}
    settings_source = (ROOT / "fulfil" / "settings.py").read_text()
    import re

    read = set(re.findall(r'_(?:bool|int|list|origins|url)\(\s*"([A-Z_]+)"', settings_source))
    read |= set(re.findall(r'env\.str\(\s*"([A-Z_]+)"', settings_source))
    assert read, "no settings found"
    assert read <= names, f"missing from .env.example: {sorted(read - names)}"


def test_compose_file_describes_the_production_stack():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "web", "worker", "beat"} <= set(services)
    assert services["postgres"]["image"].startswith("postgres:15")
    assert services["redis"]["image"].startswith("redis")
    assert "gunicorn" in " ".join(services["web"]["command"])
    worker_command = " ".join(services["worker"]["command"])
    assert "celery" in worker_command and "worker" in worker_command
    assert "beat" in " ".join(services["beat"]["command"])
    for name in ("web", "worker", "beat"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://")
        assert env["CELERY_BROKER_URL"].startswith("redis://")
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
    for name in ("postgres", "redis"):
        assert "healthcheck" in services[name]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "requirements.txt" in dockerfile and "collectstatic" in dockerfile
