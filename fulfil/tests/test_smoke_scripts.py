"""scripts/test_crud.sh and scripts/test_webhooks.sh run against a live server, as an operator would
run them against a deployment: they pass on a working one and fail loudly on a broken one."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from fulfil.processes import free_port
from products.models import Product
from webhooks.models import Webhook

pytestmark = [pytest.mark.smoke, pytest.mark.django_db(transaction=True)]

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


@pytest.fixture(autouse=True)
def _tools():
    missing = [tool for tool in ("bash", "curl", "jq", "python3") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"the smoke scripts need {', '.join(missing)}: apt-get install -y {' '.join(missing)}")


@pytest.fixture
def token(admin_user) -> str:
    return Token.objects.create(user=admin_user).key


def run(script: str, **env: str) -> subprocess.CompletedProcess:
    """Run a script with only the environment a person would give it."""
    base = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    return subprocess.run(  # noqa: S603 - our own script
        ["bash", str(SCRIPTS / script)], env={**base, **env}, capture_output=True, text=True, timeout=180
    )


def passed(result: subprocess.CompletedProcess) -> bool:
    return result.returncode == 0 and result.stdout.rstrip().splitlines()[-1].startswith("PASS:")


def test_the_crud_script_passes_against_a_live_server_and_leaves_nothing_behind(live_server, token):
    result = run("test_crud.sh", FULFIL_URL=live_server.url, FULFIL_TOKEN=token)
    assert passed(result), result.stdout + result.stderr
    assert "ok    a duplicate SKU in another case is refused with 409" in result.stdout
    assert result.stderr == ""
    assert not Product.objects.exists()


def test_the_crud_script_fails_with_a_clear_message_when_nothing_answers(token):
    url = f"http://127.0.0.1:{free_port()}"
    result = run("test_crud.sh", FULFIL_URL=url, FULFIL_TOKEN=token)
    assert result.returncode == 1
    assert result.stderr.startswith(f"FAIL: GET {url}/api/v1/hello: no answer\n"), result.stderr
    assert f"is FulFil running at {url}?" in result.stderr
    assert "PASS" not in result.stdout


def test_the_crud_script_stops_at_the_first_check_that_fails(live_server):
    result = run("test_crud.sh", FULFIL_URL=live_server.url, FULFIL_TOKEN="not-a-valid-token")
    assert result.returncode == 1
    assert result.stderr.startswith("FAIL: POST /products: expected HTTP 201, got HTTP 401\n"), result.stderr
    assert "answer: {" in result.stderr  # what came back is shown
    assert "ok    the API refuses a caller without a token (401)" in result.stdout
    assert "created" not in result.stdout and "PASS" not in result.stdout


def test_the_scripts_need_a_token():
    for script in ("test_crud.sh", "test_webhooks.sh"):
        result = run(script, FULFIL_URL="http://127.0.0.1:9")
        assert result.returncode == 1
        assert result.stderr.startswith("FAIL: FULFIL_TOKEN is not set\n"), result.stderr
        assert "drf_create_token" in result.stderr


@pytest.mark.worker
def test_the_webhooks_script_passes_against_a_live_server_with_a_worker(
    live_server, token, settings, celery_worker_process
):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True  # the web process: the live server in this process
    celery_worker_process("webhooks,default", env={"WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true"})
    result = run("test_webhooks.sh", FULFIL_URL=live_server.url, FULFIL_TOKEN=token)
    assert passed(result), result.stdout + result.stderr
    for line in ("product.created arrived, signed", "product.updated arrived", "product.deleted arrived"):
        assert line in result.stdout
    assert result.stderr == ""
    assert not Webhook.objects.exists() and not Product.objects.exists()


def test_the_webhooks_script_says_when_the_server_refuses_a_local_receiver(live_server, token, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    result = run("test_webhooks.sh", FULFIL_URL=live_server.url, FULFIL_TOKEN=token)
    assert result.returncode == 1
    assert result.stderr.startswith("FAIL: POST /webhooks: the server refuses the receiver's URL http://127.0.0.1:")
    assert (
        "is a loopback address (allowed only with WEBHOOK_ALLOW_PRIVATE_NETWORKS=true); webhooks may not call it."
        in (result.stderr)
    )
    assert "needs WEBHOOK_ALLOW_PRIVATE_NETWORKS=true on the server" in result.stderr


def test_the_webhooks_script_fails_when_no_event_arrives_in_time(live_server, token, settings):
    """No worker consumes the webhooks queue: the test send works (it is synchronous), events never come."""
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    result = run("test_webhooks.sh", FULFIL_URL=live_server.url, FULFIL_TOKEN=token, EVENT_TIMEOUT="2")
    assert result.returncode == 1
    assert result.stderr.startswith("FAIL: creating SMOKE-"), result.stderr  # SMOKE-<run>: the run's SKU
    assert "expected a product.created delivery with" in result.stderr and "within 2s" in result.stderr
    assert "it received: webhook.test" in result.stderr
    assert "is a Celery worker consuming the webhooks queue running?" in result.stderr
    assert "ok    test delivery: HTTP 200" in result.stdout
    assert not Webhook.objects.exists()  # the script cleans up after itself, even when failing
