"""The API under a fuzzer: Schemathesis, driven by our OpenAPI schema (/api/schema), against
gunicorn on PostgreSQL with a real worker, every phase (examples, coverage, fuzzing, stateful),
with a fixed seed. Whatever it sends, the API answers as its schema says, accepts what the schema
calls valid and refuses what it calls invalid. schemathesis.toml lists, with reasons, the few
answers a schema cannot describe."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from fulfil.processes import ROOT, Gunicorn

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
    "use_after_free",
)
SEED = 20261201
MAX_EXAMPLES = 6  # per operation and phase: about a minute on two CPUs, two on busy ones


@pytest.mark.worker
@pytest.mark.timeout(420)
@pytest.mark.django_db(transaction=True)
def test_the_api_answers_as_its_schema_says_whatever_a_fuzzer_sends(admin_user, celery_worker_process, services_env):
    token = Token.objects.create(user=admin_user).key  # a superuser: the Celery operations too
    celery_worker_process("default,imports")  # no webhooks queue: nothing is delivered
    env = {
        **services_env,
        "DEBUG": "false",  # production answers: JSON errors, not debug pages
        "SECRET_KEY": "fuzz-" + "x" * 40,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",  # the fuzz server itself calls loopback only
        "LOG_LEVEL": "WARNING",
    }
    web = Gunicorn(env=env, args=["--workers", "2"], app="fulfil.tests.fuzz_server")
    command = [str(Path(sys.executable).with_name("st")), "--config-file", str(ROOT / "schemathesis.toml"), "run"]
    command += [f"{web.url}/api/schema", "--header", f"Authorization: Token {token}"]
    command += ["--checks", ",".join(CHECKS), "--phases", "examples,coverage,fuzzing,stateful"]
    command += ["--seed", str(SEED), "--max-examples", str(MAX_EXAMPLES), "--workers", "2"]
    command += ["--generation-database", "none", "--request-timeout", "15", "--no-color"]
    started = time.monotonic()
    try:
        run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=360)  # noqa: S603
    finally:
        web.stop()
    report = run.stdout[-12000:] + run.stderr[-2000:]
    assert run.returncode == 0, report
    assert "No issues found" in run.stdout or " passed" in run.stdout, report
    assert time.monotonic() - started < 240, "the fuzz test outgrew its time budget"
