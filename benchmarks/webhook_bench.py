#!/usr/bin/env python
"""Webhook delivery throughput, and what webhooks cost the request that triggers them.

Everything runs on this machine, on loopback only: its own PostgreSQL database (created if
missing, migrated), a dedicated Redis database (flushed at the start), a receiver process that
answers 204 at once (scripts/receiver.py), a Celery worker with two processes on the `webhooks`
and `default` queues, and gunicorn serving the API.

1. Deliveries per second: 10 webhooks listen for product.created; events are emitted in one go
   and the clock stops when the receiver has every delivery and the log has every attempt.
2. Latency of `POST /api/v1/products` through gunicorn with 0 and with 10 active webhooks,
   in alternating blocks within one run (the order flips every round, and deliveries from one
   block are drained before the next starts). Printed side by side with their ratio.

    .venv/bin/python benchmarks/webhook_bench.py            # 3,000 deliveries, 300 requests per case
    .venv/bin/python benchmarks/webhook_bench.py --quick    # 500 deliveries, 60 requests per case

Settings are production-like (DEBUG off) with a throw-away SECRET_KEY, private networks allowed
for the loopback receiver, and FULFIL_ENV_FILE=/dev/null so a developer's .env is ignored. The
run stops itself after --time-limit seconds and always stops the processes it started.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from _common import (
    BROKER_URL,
    api_session,
    api_token,
    django_setup,
    ensure_database,
    gunicorn_start,
    percentiles,
    worker_start,
)

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/fulfil_bench_hooks"
WEBHOOKS = 10
WORKER_PROCESSES = 2


class TimeLimit(Exception):
    pass


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--broker-url", default=BROKER_URL, help="a Redis database the run may flush")
    parser.add_argument("--events", type=int, help=f"events emitted for the throughput run (x{WEBHOOKS} deliveries)")
    parser.add_argument("--requests", type=int, help="measured POSTs per case (0 and 10 webhooks)")
    parser.add_argument("--rounds", type=int, help="alternating blocks per case")
    parser.add_argument("--time-limit", type=int, help="seconds before the run gives up")
    args = parser.parse_args()
    args.events = args.events or (50 if args.quick else 300)
    args.requests = args.requests or (60 if args.quick else 300)
    args.rounds = args.rounds or (3 if args.quick else 6)
    args.time_limit = args.time_limit or (240 if args.quick else 900)
    for name, url in (("--database-url", args.database_url), ("--broker-url", args.broker_url)):
        require_loopback(name, url)
    if urlsplit(args.broker_url).scheme != "redis":
        parser.error("--broker-url must be a redis:// URL")
    return args


def require_loopback(name: str, url: str) -> None:
    host = urlsplit(url).hostname or ""
    addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    if not addresses or not all(ipaddress.ip_address(address).is_loopback for address in addresses):
        sys.exit(f"{name} must point at this machine (loopback), got {host!r}")


# --- Measurements -------------------------------------------------------------------------


def measure_throughput(args, receiver) -> tuple[int, float]:
    from fulfil.processes import wait_until
    from webhooks.events import event_emit_many
    from webhooks.models import WebhookDelivery

    deliveries = args.events * WEBHOOKS
    before_received, before_logged = receiver.count, WebhookDelivery.objects.count()
    data = [{"id": f"bench-{n}", "sku": f"BENCH-{n}"} for n in range(args.events)]
    started = time.perf_counter()
    event_emit_many(event="product.created", data_list=data)  # outside a transaction: queued at once
    wait_until(
        lambda: (
            receiver.count - before_received >= deliveries
            and WebhookDelivery.objects.count() - before_logged >= deliveries
        ),
        timeout=args.time_limit,
        what=f"{deliveries} deliveries",
    )
    elapsed = time.perf_counter() - started
    failed = WebhookDelivery.objects.filter(success=False).count()
    if failed:
        raise RuntimeError(f"{failed} deliveries failed; see the worker log")
    return deliveries, elapsed


CASES = ("0 webhooks", "10, worker paused", "10, delivering")


def measure_latency(args, receiver, api_url: str, token: str, worker_name: str) -> dict[str, list[float]]:
    """POST latency per case, in alternating blocks; each block's deliveries drain before the next.

    "10, worker paused": the worker stops consuming the webhooks queue during the block, so the
    timing is the request path alone (the events are queued, then delivered after the block).
    "10, delivering": the worker delivers while the requests run, on the same CPUs.
    """
    from fulfil.celery import app
    from fulfil.processes import wait_until
    from webhooks.models import Webhook

    session = api_session(token)
    timings: dict[str, list[float]] = {case: [] for case in CASES}
    per_block = max(1, args.requests // args.rounds)
    expected = receiver.count
    serial = 0

    def block(case: str, count: int, record: bool) -> None:
        nonlocal serial, expected
        active = case != CASES[0]
        Webhook.objects.update(is_active=active)
        paused = case == CASES[1]
        if paused:
            app.control.cancel_consumer("webhooks", destination=[worker_name], reply=True, timeout=10)
        for _ in range(count):
            serial += 1
            body = {"sku": f"LAT-{os.getpid()}-{serial}", "name": "Latency probe", "description": "bench"}
            started = time.perf_counter()
            response = session.post(f"{api_url}/api/v1/products", json=body, timeout=30)
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 201:
                raise RuntimeError(f"POST answered {response.status_code}: {response.text[:300]}")
            if record:
                timings[case].append(elapsed)
        if paused:
            app.control.add_consumer("webhooks", destination=[worker_name], reply=True, timeout=10)
        expected += count * WEBHOOKS if active else 0
        wait_until(lambda: receiver.count >= expected, timeout=120, what="deliveries to drain")

    for case in CASES:  # warm-up: connections, imports, caches
        block(case, 10, record=False)
    for round_number in range(args.rounds):
        shift = round_number % len(CASES)
        for case in CASES[shift:] + CASES[:shift]:
            block(case, per_block, record=True)
    return timings


def main() -> None:
    args = parse_args()

    def out_of_time(signum, frame):
        raise TimeLimit(f"stopped after {args.time_limit} s (--time-limit)")

    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(args.time_limit)

    ensure_database(args.database_url)
    django_setup(database_url=args.database_url, broker_url=args.broker_url, WEBHOOK_ALLOW_PRIVATE_NETWORKS="true")
    import redis
    from django.core.management import call_command
    from django.db import connection

    from fulfil.processes import wait_until
    from scripts.receiver import ReceiverProcess
    from webhooks import services
    from webhooks.events import event_emit

    call_command("migrate", interactive=False, verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE webhooks_webhookdelivery, webhooks_webhook, products_product")
    redis.Redis.from_url(args.broker_url).flushdb()

    logs = Path(tempfile.mkdtemp(prefix="fulfil-webhook-bench-"))
    receiver = worker = web = None
    try:
        receiver = ReceiverProcess()
        web, api_url = gunicorn_start("--workers", "2", "--log-level", "warning", log=logs / "gunicorn.log")
        worker = worker_start(
            "webhooks,default", concurrency=WORKER_PROCESSES, name="webhook-bench", log=logs / "worker.log"
        )

        for n in range(WEBHOOKS):
            services.webhook_create(url=receiver.url(f"/hook/{n}"), events=["product.created"], secret=f"s{n}")
        token = api_token()

        # Ready when the worker has delivered a first event.
        event_emit(event="product.created", data={"id": "warm-up"})
        wait_until(lambda: receiver.count >= WEBHOOKS, 60, "the first deliveries", worker)

        print(
            f"FulFil webhook benchmark{' (quick)' if args.quick else ''}: {os.cpu_count()} CPUs, "
            f"{WORKER_PROCESSES} worker processes, gunicorn with 2 workers, receiver answering 204 on loopback",
            flush=True,
        )
        deliveries, elapsed = measure_throughput(args, receiver)
        print(
            f"throughput: {deliveries} deliveries ({args.events} events x {WEBHOOKS} webhooks) in {elapsed:.2f} s "
            f"= {deliveries / elapsed:.0f} deliveries/s",
            flush=True,
        )

        timings = measure_latency(args, receiver, api_url, token, worker.name)
        quiet = timings[CASES[0]]
        quiet_median, quiet_p95 = percentiles(quiet)
        print(f"POST /api/v1/products through gunicorn, {len(quiet)} requests per case, {args.rounds} rounds:")
        print(f"  {'':<20}{'median':>9}{'p95':>9}{'ratio to 0 (median, p95)':>28}")
        for case in CASES:
            median, p95 = percentiles(timings[case])
            ratio = f"{median / quiet_median:.2f}, {p95 / quiet_p95:.2f}"
            print(f"  {case:<20}{median:>7.1f}ms{p95:>7.1f}ms{ratio:>28}", flush=True)
    finally:
        signal.alarm(0)
        for process in (web, worker, receiver):
            if process is not None:
                process.stop()
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE webhooks_webhookdelivery, webhooks_webhook, products_product")
        print(f"(logs of the worker and gunicorn in {logs})")


if __name__ == "__main__":
    main()
