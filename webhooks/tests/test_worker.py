"""End to end: a product created through the API reaches a receiver through a real Celery worker."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings

from fulfil.celery import app as celery_app
from webhooks.models import WebhookDelivery
from webhooks.tests.conftest import legacy_signature_ok, standard_signature_ok

ROOT = Path(__file__).resolve().parents[2]


def _test_database_url() -> str:
    """The URL of the database pytest created for this run (test_<name>), for the worker."""
    db = settings.DATABASES["default"]
    credentials = quote(db["USER"] or "") + (":" + quote(db["PASSWORD"]) if db.get("PASSWORD") else "")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def worker(transactional_db):
    """`celery worker -Q webhooks,default -c 1 -P solo` on the test database and broker; killed afterwards."""
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        pytest.fail("the worker test needs PostgreSQL (the worker is another process)")
    with celery_app.connection_for_write() as connection:  # leftovers from an earlier, interrupted run
        connection.default_channel.queue_purge("webhooks")
    env = {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
        "FULFIL_ENV_FILE": os.devnull,
        "DEBUG": "true",
    }
    log = tempfile.NamedTemporaryFile("w+", prefix="webhooks-worker-", suffix=".log")  # noqa: SIM115
    command = [sys.executable, "-m", "celery", "-A", "fulfil", "worker", "-Q", "webhooks,default", "-c", "1"]
    command += ["-P", "solo", "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO"]
    command += ["-n", f"webhooks-test-{os.getpid()}@%h"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield log
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        log.close()


def _output(log) -> str:
    log.flush()
    log.seek(0)
    return log.read()[-4000:]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_product_created_through_the_api_is_delivered_by_a_real_worker(worker, api, receiver, make_webhook):
    webhook = make_webhook(secret="e2e-secret", events=["product.created"])
    started = time.monotonic()
    response = api.post("/api/v1/products", {"sku": "E2E-1", "name": "End to end"}, format="json")
    assert response.status_code == 201
    assert time.monotonic() - started < 2, "the request waited for the webhook"

    requests = receiver.wait_for(1, timeout=60)
    assert requests, "no delivery within 60 s; worker output:\n" + _output(worker)
    [request] = requests
    assert request.json["event"] == "product.created"
    assert request.json["data"]["id"] == response.json()["id"] and request.json["data"]["sku"] == "E2E-1"
    assert legacy_signature_ok("e2e-secret", request.body, request.header("X-Webhook-Signature"))
    assert standard_signature_ok("e2e-secret", request)

    deadline = time.monotonic() + 15
    while not WebhookDelivery.objects.filter(webhook=webhook).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    log = WebhookDelivery.objects.get(webhook=webhook)
    assert log.success and log.status_code == 200 and str(log.delivery_id) == request.header("webhook-id")
