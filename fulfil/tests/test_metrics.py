"""Prometheus metrics at /metrics: who may read them, that they move with the work, what a scrape
costs, and that several gunicorn processes add up to one set of numbers."""

from __future__ import annotations

import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from urllib.request import Request, urlopen

import pytest
import yaml
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from fulfil.metrics import FleetCollector, celery_queue_lengths
from fulfil.processes import ChildProcess, free_port, wait_until
from webhooks import services as webhook_services
from webhooks.models import WebhookDelivery

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-for-tests-0123456789abcdef"


class Scrape(dict):
    """One scrape's samples: {(name, frozenset(labels)): value}; `names`, of metrics and samples."""

    names: set[str]

    @classmethod
    def parse(cls, text: str) -> Scrape:
        samples = cls()
        samples.names = set()
        for family in text_string_to_metric_families(text):
            samples.names |= {family.name, *(sample.name for sample in family.samples)}
            for sample in family.samples:
                samples[sample.name, frozenset(sample.labels.items())] = sample.value
        return samples

    def value(self, name: str, **labels: str) -> float:
        return self.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def scrape(client, settings):
    settings.METRICS_TOKEN = TOKEN

    def scrape() -> Scrape:
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert response.status_code == 200, response.content
        return Scrape.parse(response.content.decode())

    return scrape


@pytest.mark.quickstart
def test_metrics_are_off_without_a_token_and_need_that_token_when_one_is_set(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 404
    settings.METRICS_TOKEN = TOKEN
    for header in ("", f"Bearer {TOKEN[:-1]}", f"Token {TOKEN}", f"Bearer {TOKEN} "):
        response = client.get("/metrics", HTTP_AUTHORIZATION=header)
        assert response.status_code == 401, header
        assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    response = client.get("/metrics/", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = Scrape.parse(response.content.decode())
    assert samples.value("fulfil_jobs", job="importjob", status="PENDING") == 0
    openmetrics = "application/openmetrics-text; version=1.0.0"
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", HTTP_ACCEPT=openmetrics)
    assert response["Content-Type"].startswith(openmetrics) and response.content.endswith(b"# EOF\n")
    assert samples.value("fulfil_celery_broker_up") == 1


def test_a_scrape_after_an_import_and_a_webhook_delivery_shows_both(
    api, scrape, settings, receiver, eager_celery, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    webhook_services.webhook_create(url=receiver.url(), events=["import.completed"])
    before = scrape()
    with django_capture_on_commit_callbacks(execute=True):
        data = {"file": SimpleUploadedFile("m.csv", b"sku,name\nM-1,a\nM-2,b\n,no sku\n")}
        assert api.post("/api/v1/products/upload", data, format="multipart").status_code == 202
    assert [request.json["event"] for request in receiver.wait_for(1)] == ["import.completed"]
    after = scrape()

    def moved(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert moved("fulfil_http_request_duration_seconds_count", view="v1:upload-list", method="POST", status="2xx") == 1
    assert moved("fulfil_jobs_finished_15m", job="importjob", outcome="success") == 1
    assert moved("fulfil_job_duration_seconds_15m_gcount", job="importjob") == 1
    assert after.value("fulfil_import_rows_per_second_15m") > 0
    assert moved("fulfil_webhook_attempts_15m", outcome="success") == 1
    assert moved("fulfil_webhook_attempt_duration_seconds_15m_gcount") == 1
    assert moved("fulfil_webhook_attempt_duration_seconds_15m_bucket", le="30.0") == 1
    assert after.value("fulfil_webhook_backlog") == 0


def test_the_backlog_counts_retries_scheduled_and_not_yet_made_and_how_late_the_oldest_is(scrape, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    webhook = webhook_services.webhook_create(url="http://127.0.0.1:9/hook", events=["product.created"])
    now = timezone.now()

    def attempt(delivery: WebhookDelivery | None = None, *, due_in: float | None) -> WebhookDelivery:
        values = {"delivery_id": delivery.delivery_id, "attempt": delivery.attempt + 1} if delivery else {}
        due = now + timedelta(seconds=due_in) if due_in is not None else None
        return WebhookDelivery.objects.create(
            webhook=webhook, event="product.created", url=webhook.url, payload={}, next_attempt_at=due, **values
        )

    late = attempt(due_in=-120)
    attempt(due_in=600)
    attempt(due_in=None)  # failed for good: nothing owed
    samples = scrape()
    assert samples.value("fulfil_webhook_backlog") == 2
    assert 120 <= samples.value("fulfil_webhook_backlog_overdue_seconds") < 180
    attempt(late, due_in=None)  # the retry ran
    samples = scrape()
    assert samples.value("fulfil_webhook_backlog") == 1
    assert samples.value("fulfil_webhook_backlog_overdue_seconds") == 0


def test_queue_lengths_are_read_from_redis_at_scrape_time(scrape, settings):
    import redis

    from fulfil.celery import ping

    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.flushdb()  # the suite's own Redis database: no messages left by earlier tests
    for _ in range(3):
        ping.apply_async(queue="imports")
    ping.apply_async(queue="webhooks", priority=9)  # a list of its own
    samples = scrape()
    broker.flushdb()
    assert [samples.value("fulfil_celery_queue_length", queue=q) for q in ("imports", "webhooks", "default")] == [
        3,
        1,
        0,
    ]


@pytest.mark.quickstart
def test_queue_lengths_of_the_filesystem_broker_are_its_message_files(settings, tmp_path):
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path)}
    for name in ("1_a.imports.msg", "2_b.imports.msg", "3_c.default.msg"):
        (tmp_path / name).write_text("{}")
    assert celery_queue_lengths(("imports", "webhooks", "default")) == {"imports": 2, "webhooks": 0, "default": 1}


def test_a_scrape_reads_the_database_in_a_few_indexed_queries(django_assert_max_num_queries):
    with django_assert_max_num_queries(11):  # one more since the outbox joined the backlog
        names = {metric.name for metric in FleetCollector().collect()}
    assert {"fulfil_jobs", "fulfil_webhook_backlog", "fulfil_celery_queue_length"} <= names


def test_gunicorn_processes_add_up_to_one_set_of_numbers(tmp_path, settings):
    """With PROMETHEUS_MULTIPROC_DIR (as make run and compose set it) every process's requests count."""
    port = free_port()
    db = settings.DATABASES["default"]
    env = {
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "METRICS_TOKEN": TOKEN,
    }
    command = [sys.executable, "-m", "gunicorn", "fulfil.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2"]
    server = ChildProcess(command, env=env)
    base = f"http://127.0.0.1:{port}"

    def get(path: str, **headers: str) -> bytes:
        with urlopen(Request(base + path, headers=headers), timeout=10) as response:  # noqa: S310 - loopback
            return response.read()

    sent = 1  # the request wait_until's first success made

    def both_answered() -> bool:
        # The second process may still be loading Django while the first answers: ask until both have.
        nonlocal sent
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda _: get("/api/v1/hello"), range(20)))
        sent += 20
        return len({name.split("_")[-1] for name in os.listdir(tmp_path)}) == 2

    try:
        wait_until(lambda: _answers(get), 30, "gunicorn", server)
        wait_until(both_answered, 60, "both gunicorn processes to answer", server)
        samples = Scrape.parse(get("/metrics", Authorization=f"Bearer {TOKEN}").decode())
    finally:
        server.stop()
    assert (
        samples.value("fulfil_http_request_duration_seconds_count", view="v1:hello-list", method="GET", status="2xx")
        == sent
    )


def _answers(get) -> bool:
    try:
        get("/api/v1/hello")
    except OSError:
        return False
    return True


def test_the_readme_s_scrape_config_and_alert_rules_parse_and_name_only_metrics_a_scrape_shows(scrape):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("**Metrics (Prometheus).**") : readme.index("**Monitoring.** `GET /api/v1/hello`")]
    config, rules = (yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", section, re.S))
    assert config["scrape_configs"][0]["authorization"]["type"] == "Bearer"
    alerts = rules["groups"][0]["rules"]
    assert len(alerts) == 3 and all(rule["alert"] and rule["expr"] and rule["for"] for rule in alerts)
    named = set(re.findall(r"fulfil_[a-z0-9_]+", section))
    assert named and named <= scrape().names, sorted(named - scrape().names)
