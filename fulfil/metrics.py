"""Prometheus metrics, served at /metrics to a scraper holding METRICS_TOKEN.

Two kinds, so that nothing but the web tier is ever scraped:

- What a web process sees: the latency of each request by view (`MetricsMiddleware`). gunicorn
  runs several processes; with PROMETHEUS_MULTIPROC_DIR set (`make run` and docker compose set
  it) each writes its numbers to a file there and a scrape adds them all up (prometheus-client's
  multiprocess mode). Without it, the process answering shows its own.
- What lives in the database and the broker, read when scraped (`FleetCollector`): jobs queued,
  running and finished, their durations and rows per second, webhook attempts and their latency,
  the delivery backlog, and the Celery queues' lengths. Workers on any host need expose nothing,
  and every web process shows the same. Each is one bounded query on an index (or one Redis round
  trip); `fulfil_metrics_collect_seconds` says what a scrape cost.

Numbers about what happened ("finished", "attempts") cover the last WINDOW: the rows they come
from are removed by housekeeping, so counters that only go up cannot be read from the database.
"""

from __future__ import annotations

import functools
import hmac
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import REGISTRY, CollectorRegistry, Histogram
from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from fulfil.jobs import BackgroundJob, background_job_models

logger = logging.getLogger(__name__)

WINDOW = timedelta(minutes=15)
QUEUES = ("imports", "webhooks", "default")
# Seconds: requests and webhook answers take milliseconds to seconds; jobs seconds to an hour.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
JOB_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600)

REQUEST_SECONDS = Histogram(
    "fulfil_http_request_duration_seconds",
    "Time to answer a request, by view (URL name), method and status class.",
    ["view", "method", "status"],
    buckets=REQUEST_BUCKETS,
)


class MetricsMiddleware:
    """Times every request (static files and unknown paths included) into REQUEST_SECONDS."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.static_prefix = "/" + settings.STATIC_URL.lstrip("/")

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = request.resolver_match
        if match is not None:
            view = match.view_name
        else:
            view = "static" if request.path.startswith(self.static_prefix) else "unmatched"
        status = f"{response.status_code // 100}xx"
        REQUEST_SECONDS.labels(view, request.method or "", status).observe(time.perf_counter() - started)
        return response


def metrics_view(request: HttpRequest) -> HttpResponse:
    """GET /metrics with `Authorization: Bearer <METRICS_TOKEN>`: 404 while no token is set (the
    endpoint is off), 401 without the right one."""
    token = settings.METRICS_TOKEN
    if not token:
        raise Http404("Metrics are off: set METRICS_TOKEN.")
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        response = HttpResponse("A bearer token is needed.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body, content_type = metrics_exposition(request.headers.get("Accept", ""))
    return HttpResponse(body, content_type=content_type)


def metrics_exposition(accept: str = "") -> tuple[bytes, str]:
    """Everything a scrape shows, in the format the scraper asks for (Prometheus' text format, or
    OpenMetrics), and its content type."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)  # every web process's own numbers, added up
    else:
        registry.register(REGISTRY)  # this process's own (and its CPU and memory)
    registry.register(FleetCollector())
    encode, content_type = choose_encoder(accept)
    return encode(registry), content_type


class FleetCollector:
    """The metrics read from the database and the broker when scraped (see the module's doc)."""

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        now = timezone.now()
        yield from self._jobs(now)
        yield from self._imports(now)
        yield from self._webhooks(now)
        yield from self._queues()
        yield GaugeMetricFamily(
            "fulfil_metrics_collect_seconds",
            "Time this scrape spent reading the database and the broker.",
            value=time.perf_counter() - started,
        )

    def _jobs(self, now: datetime) -> Iterator[Metric]:
        waiting = GaugeMetricFamily(
            "fulfil_jobs", "Background jobs queued or running now, by type and status.", labels=["job", "status"]
        )
        finished = GaugeMetricFamily(
            "fulfil_jobs_finished_15m",
            "Background jobs that finished in the last 15 minutes, by type and outcome.",
            labels=["job", "outcome"],
        )
        durations = GaugeHistogramMetricFamily(
            "fulfil_job_duration_seconds_15m",
            "How long the background jobs that finished in the last 15 minutes took, by type.",
            labels=["job"],
        )
        active = (BackgroundJob.Status.PENDING, *BackgroundJob.RUNNING)
        for model in background_job_models():
            job = model._meta.model_name or ""
            counts = dict(
                model._default_manager.filter(status__in=active)
                .order_by()
                .values_list("status")
                .annotate(n=Count("pk"))
            )
            for status in active:
                waiting.add_metric([job, status], counts.get(status, 0))
            ended = model._default_manager.filter(finished_at__gte=now - WINDOW).order_by()
            outcomes = dict(ended.values_list("status").annotate(n=Count("pk")))
            for status, outcome in OUTCOMES.items():
                finished.add_metric([job, outcome], outcomes.get(status, 0))
            took = ended.filter(started_at__isnull=False).values_list("started_at", "finished_at")
            seconds = [(end - start).total_seconds() for start, end in took if start and end]
            durations.add_metric([job], _buckets(seconds, JOB_BUCKETS), sum(seconds))
        yield from (waiting, finished, durations)

    def _imports(self, now: datetime) -> Iterator[Metric]:
        from imports.models import ImportJob

        took = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
        done = (
            ImportJob.objects.filter(finished_at__gte=now - WINDOW, status=ImportJob.Status.SUCCESS)
            .order_by()
            .aggregate(rows=Sum("processed_rows"), took=Sum(took))
        )
        seconds = done["took"].total_seconds() if done["took"] else 0.0
        yield GaugeMetricFamily(
            "fulfil_import_rows_per_second_15m",
            "Rows per second of the imports that succeeded in the last 15 minutes (their rows over their time).",
            value=(done["rows"] or 0) / seconds if seconds else 0.0,
        )
        running = ImportJob.objects.filter(status__in=ImportJob.RUNNING, started_at__isnull=False).order_by()
        rate = sum(
            (
                rows / max((now - started).total_seconds(), 1.0)
                for rows, started in running.values_list("processed_rows", "started_at")
                if started
            ),
            0.0,
        )
        yield GaugeMetricFamily(
            "fulfil_import_running_rows_per_second",
            "Rows per second of the imports running now, added up (each one's rows so far over its time so far).",
            value=rate,
        )

    def _webhooks(self, now: datetime) -> Iterator[Metric]:
        from webhooks.models import WebhookDelivery
        from webhooks.selectors import webhook_backlog

        recent = WebhookDelivery.objects.filter(created_at__gte=now - WINDOW).exclude(
            trigger=WebhookDelivery.Trigger.TEST
        )
        outcomes = {
            "success": Q(success=True),
            "retry": Q(success=False, next_attempt_at__isnull=False),
            "failed": Q(success=False, next_attempt_at__isnull=True),
        }
        within = {f"le_{i}": Q(response_time_ms__lte=bound * 1000) for i, bound in enumerate(REQUEST_BUCKETS)}
        counted = {f"n_{name}": Count("pk", filter=q) for name, q in [*outcomes.items(), *within.items()]}
        row = recent.order_by().aggregate(timed=Count("response_time_ms"), total_ms=Sum("response_time_ms"), **counted)
        attempts = GaugeMetricFamily(
            "fulfil_webhook_attempts_15m",
            "Webhook delivery attempts in the last 15 minutes (tests aside), by outcome: success, "
            "retry (failed, another attempt to come) or failed (failed for good).",
            labels=["outcome"],
        )
        for outcome in outcomes:
            attempts.add_metric([outcome], row[f"n_{outcome}"])
        yield attempts
        latency = GaugeHistogramMetricFamily(
            "fulfil_webhook_attempt_duration_seconds_15m",
            "How long receivers took to answer the attempts of the last 15 minutes.",
            buckets=[
                *((_le(bound), row[f"n_le_{i}"]) for i, bound in enumerate(REQUEST_BUCKETS)),
                ("+Inf", row["timed"]),
            ],
            gsum_value=(row["total_ms"] or 0) / 1000,
        )
        yield latency
        backlog = webhook_backlog(now=now)
        yield GaugeMetricFamily(
            "fulfil_webhook_backlog",
            "Webhook deliveries waiting to be sent (retries scheduled).",
            value=backlog.pending,
        )
        overdue = (now - backlog.oldest_due_at).total_seconds() if backlog.oldest_due_at else 0.0
        yield GaugeMetricFamily(
            "fulfil_webhook_backlog_overdue_seconds",
            "How long the oldest waiting webhook delivery has been due (0: none is late).",
            value=max(overdue, 0.0),
        )

    def _queues(self) -> Iterator[Metric]:
        lengths = GaugeMetricFamily(
            "fulfil_celery_queue_length", "Messages waiting in each Celery queue.", labels=["queue"]
        )
        try:
            found = celery_queue_lengths(QUEUES)
        except Exception as exc:  # the broker is down: say so, and show the rest
            logger.warning("metrics: broker unreachable: %s", exc)
            yield GaugeMetricFamily("fulfil_celery_broker_up", "Whether the broker answered this scrape.", value=0)
            return
        yield GaugeMetricFamily("fulfil_celery_broker_up", "Whether the broker answered this scrape.", value=1)
        for queue, length in found.items():
            lengths.add_metric([queue], length)
        yield lengths


OUTCOMES = {
    BackgroundJob.Status.SUCCESS: "success",
    BackgroundJob.Status.FAILURE: "failure",
    BackgroundJob.Status.REVOKED: "cancelled",
}


def celery_queue_lengths(queues: Sequence[str]) -> dict[str, int]:
    """Messages waiting in each queue: LLEN on Redis (with the lists of its priority levels), or
    the message files of the filesystem broker (the quick start)."""
    url = settings.CELERY_BROKER_URL
    if url.startswith("filesystem://"):
        folder = Path(str(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]))
        names = [entry.name for entry in os.scandir(folder)]
        return {queue: sum(name.endswith(f".{queue}.msg") for name in names) for queue in queues}
    if not url.startswith(("redis://", "rediss://")):
        return {}
    from kombu.transport.redis import PRIORITY_STEPS, Channel

    client = _redis(url)
    # A queue is one list per priority level: `imports`, then `imports\x06\x163` and so on.
    keys = {queue: [f"{queue}{Channel.sep}{step}" if step else queue for step in PRIORITY_STEPS] for queue in queues}
    with client.pipeline(transaction=False) as pipe:
        for names in keys.values():
            for name in names:
                pipe.llen(name)
        values = iter(pipe.execute())
    return {queue: sum(next(values) for _ in names) for queue, names in keys.items()}


@functools.cache
def _redis(url: str) -> Any:
    """One client per process, with short timeouts: a scrape never waits long for the broker."""
    import redis

    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def _buckets(values: Iterable[float], bounds: Sequence[float]) -> list[tuple[str, float]]:
    """Cumulative bucket counts of `values`, as a histogram shows them."""
    values = list(values)
    counts = [(_le(bound), sum(value <= bound for value in values)) for bound in bounds]
    return [*counts, ("+Inf", len(values))]


def _le(bound: float) -> str:
    return str(float(bound))
