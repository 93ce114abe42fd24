"""Running in production: the deploy check, structured logs with request ids, the compose stack."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "p7Qx-2vR9kLm4TzW8yBn3Hc6Jd1Fs5Ga0Ue7Oi2Yp9Xw4Vq8Nt3Mr6Kl1Jh5Gf0Ds",
    "ALLOWED_HOSTS": "fulfil.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://fulfil.example.com",
    "BEHIND_HTTPS_PROXY": "true",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
    "FULFIL_ENV_FILE": os.devnull,
}


def test_check_deploy_passes_with_production_settings():
    env = {**os.environ, **PRODUCTION}
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_complains_about_an_unhardened_setup():
    env = {**os.environ, **PRODUCTION, "SECURE_SSL_REDIRECT": "false", "SECURE_HSTS_SECONDS": "0"}
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode != 0
    assert "security.W004" in result.stderr + result.stdout and "security.W008" in result.stderr + result.stdout


@pytest.mark.django_db
def test_api_requests_get_a_request_id_and_one_structured_log_line(api, caplog):
    caplog.set_level(logging.INFO, logger="fulfil.request")
    response = api.get("/api/v1/products", HTTP_X_REQUEST_ID="abc-123")
    assert response["X-Request-ID"] == "abc-123"
    [record] = [r for r in caplog.records if r.name == "fulfil.request"]
    assert (record.request_id, record.method, record.path, record.status) == ("abc-123", "GET", "/api/v1/products", 200)
    assert record.duration_ms >= 0 and record.user_id is not None

    from fulfil.logs import JsonFormatter

    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "GET /api/v1/products 200" and line["request_id"] == "abc-123"
    assert line["level"] == "INFO" and line["logger"] == "fulfil.request"


def test_text_log_lines_name_the_ids_they_have_and_say_nothing_of_the_ones_they_lack():
    from fulfil.logs import ContextFilter, TextFormatter

    def line(**ids) -> str:
        record = logging.LogRecord("fulfil.x", logging.INFO, __file__, 1, "hello %s", ("there",), None)
        ContextFilter().filter(record)  # outside a request and a task: both None
        record.__dict__.update(ids)
        return TextFormatter().format(record).split(" ", 2)[2]

    assert line() == "INFO fulfil.x hello there"
    assert line(request_id="abc") == "INFO fulfil.x [request_id=abc] hello there"
    assert line(task_id="t-1", job_id=7) == "INFO fulfil.x [task_id=t-1 job_id=7] hello there"


@pytest.mark.django_db
def test_a_made_up_request_id_replaces_an_unsafe_one(api):
    response = api.get("/api/v1/hello", HTTP_X_REQUEST_ID="bad id\nwith newline")
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


@pytest.mark.django_db
def test_an_import_task_logs_json_lines_with_its_task_id_and_job_id(tmp_path):
    import io

    from fulfil.logs import ContextFilter, JsonFormatter
    from imports.models import ImportJob
    from imports.tasks import process_csv_upload

    path = tmp_path / "log.csv"
    path.write_text("sku,name\nL-1,l\n")
    job = ImportJob.objects.create(source="command", source_path=str(path), original_name="log.csv", task_id="task-42")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("imports.run")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    try:
        process_csv_upload.apply(args=[job.pk], task_id="task-42")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["message"] for line in lines] == [
        f"import {job.pk} started (attempt 1)",
        f"import {job.pk} complete: 1 created, 0 updated, 0 rejected",
    ]
    assert all(line["task_id"] == "task-42" and line["job_id"] == job.pk for line in lines)
    assert lines[1]["rows"] == 1 and lines[1]["level"] == "INFO" and lines[1]["logger"] == "imports.run"


def test_compose_runs_an_imports_worker_a_webhooks_worker_beat_and_one_shot_migrations():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert "-Q imports" in " ".join(services["worker"]["command"])
    assert "-Q webhooks,default" in " ".join(services["worker-webhooks"]["command"])
    assert services["migrate"]["command"][-2:] == ["migrate", "--noinput"]
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    for name in ("postgres", "redis"):
        assert services[name]["healthcheck"] and services[name]["volumes"]


def test_compose_s3_profile_runs_minio_and_creates_the_bucket_the_app_is_told_of_before_the_app_starts():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert services["minio"]["profiles"] == services["minio-bucket"]["profiles"] == ["s3"]
    assert services["minio-bucket"]["depends_on"]["minio"]["condition"] == "service_healthy"
    assert services["minio-bucket"]["environment"]["BUCKET"].startswith("${AWS_STORAGE_BUCKET_NAME")
    assert 'mc mb --ignore-existing "local/$$BUCKET"' in services["minio-bucket"]["command"][0]
    for name in ("migrate", "web", "worker", "worker-webhooks", "beat"):
        bucket = services[name]["depends_on"]["minio-bucket"]
        assert bucket == {"condition": "service_completed_successfully", "required": False}, name


def test_env_example_covers_the_compose_variables():
    compose = (ROOT / "docker-compose.yml").read_text()
    variables = set(re.findall(r"\$\{([A-Z_]+)(?::-[^}]*)?\}", compose))
    example = (ROOT / ".env.example").read_text()
    listed = {line.split("=", 1)[0].lstrip("# ").strip() for line in example.splitlines() if "=" in line}
    assert variables and variables <= listed, sorted(variables - listed)


@pytest.mark.django_db
def test_compose_health_check_passes_under_production_settings(settings):
    """The web service's health check, run against gunicorn with the production settings."""
    check = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["web"]["healthcheck"]["test"]
    with socket.socket() as probe:  # a free port instead of the container's 8000
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    script = check[check.index("-c") + 1].replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    db = settings.DATABASES["default"]
    database_url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    env = {**os.environ, **PRODUCTION, "DATABASE_URL": database_url}
    command = [sys.executable, "-m", "gunicorn", "fulfil.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1"]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
            if result.returncode == 0:
                break
            time.sleep(0.1)
        assert result.returncode == 0, result.stderr
    finally:
        server.terminate()
        server.wait(timeout=10)
