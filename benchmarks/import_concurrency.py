"""Imports at once, and a worker's memory on hostile files.

For 1, 2 and 4 imports at once: as many CSVs of --rows rows over the same SKUs, each in an order
of its own, queued together to one worker with a process per import (prefork), into an empty
catalogue, timed from queued to the last SUCCESS. It prints the total rows/s of each set against
one import alone in the same run: on a machine with CPUs to spare for the worker processes and
PostgreSQL, imports at once add up; with fewer, they share what there is, and neither waits on
the other for long (rows they share are written in SKU order by every writer).

Then a solo-pool worker (the task runs in the process whose peak RSS is read) imports two
single-line files of --hostile-mb MB: a header and one giant quoted field, and a header and
`ab,ab,ab,...`. Each ends with one rejected row (IMPORT_MAX_ROW_BYTES) and the worker's peak
memory stays that of a small import.

    .venv/bin/python benchmarks/import_concurrency.py           # 250,000 rows each, 500 MB files
    .venv/bin/python benchmarks/import_concurrency.py --quick   # 20,000 rows each, 50 MB files

It uses its own database (--database-url, created when missing) and Redis database 12
(--broker-url), which it flushes.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

import redis
from _common import django_setup, ensure_database, worker_start

from scripts.hostile_csv import SHAPES, write_single_line

WORDS = ("red", "blue", "oak", "steel", "linen", "classic", "slim", "lamp", "chair", "mug", "scarf", "cable")
SETS = (1, 2, 4)


def overlapping(path: Path, rows: int, order: int) -> None:
    """`rows` rows, one for each of the SKUs every file shares, in an order of this file's own."""
    rng = random.Random(order)
    skus = list(range(rows))
    rng.shuffle(skus)
    with path.open("w") as f:
        f.write("sku,name,description\n")
        for line, sku in enumerate(skus, start=2):
            name = " ".join(rng.choice(WORDS).capitalize() for _ in range(3))
            f.write(f'SKU-{sku:07d},{name} {sku},"From file {order}, line {line}: {name.lower()}, built to last."\n')


def truncate_products() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE products_product, imports_importrowerror CASCADE")
        cursor.execute("VACUUM ANALYZE products_product")


def import_at_once(paths: list[Path], *, pool: str = "prefork") -> tuple[float, float, list]:
    """Queue an import of each file at once for a fresh worker with a process for each; (seconds
    from queued to the last finished, the worker's peak RSS MB, the finished jobs)."""
    from django.db import transaction

    from fulfil.processes import wait_until
    from imports.models import ImportJob
    from imports.services import import_job_create_from_path, import_job_enqueue

    worker = worker_start("imports", pool=pool, concurrency=len(paths), name="concurrency-bench")
    try:
        with transaction.atomic():
            jobs = [import_job_create_from_path(path=path) for path in paths]
            queued = time.perf_counter()
            for job in jobs:
                import_job_enqueue(job=job)

        def all_finished() -> bool:
            return all(ImportJob.objects.get(pk=job.pk).is_finished for job in jobs)

        wait_until(all_finished, 3600, "the imports", worker, interval=0.2)
        seconds = time.perf_counter() - queued
        for job in jobs:
            job.refresh_from_db()
        return seconds, worker.peak_rss_mb(), jobs
    finally:
        worker.stop(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=250_000, help="rows in each file")
    parser.add_argument("--hostile-mb", type=int, default=500, help="size of each single-line file")
    parser.add_argument("--quick", action="store_true", help="20,000 rows each and 50 MB files, a smoke run")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/fulfil_bench_concurrency")
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/12", help="a Redis database the run flushes")
    parser.add_argument("--data-dir", default="")
    args = parser.parse_args()
    rows, hostile_mb = (20_000, 50) if args.quick else (args.rows, args.hostile_mb)

    ensure_database(args.database_url)
    redis.Redis.from_url(args.broker_url).flushdb()  # no messages left by an interrupted run
    django_setup(database_url=args.database_url, broker_url=args.broker_url)
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="fulfil-bench-"))
    print(f"PostgreSQL {args.database_url}; workers on {args.broker_url}; {os.cpu_count()} CPUs")
    print(f"chunk size {settings.IMPORT_CHUNK_SIZE:,}, {settings.IMPORT_WRITERS} writers per import")
    print("load average at the start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))

    paths = [data_dir / f"overlapping-{n}.csv" for n in range(max(SETS))]
    for n, path in enumerate(paths):
        overlapping(path, rows, n)
    results = []
    for imports in SETS:
        truncate_products()
        seconds, _, jobs = import_at_once(paths[:imports])  # (the main process's RSS says nothing here)
        for job in jobs:
            assert job.status == "SUCCESS", f"import {job.pk} ended {job.status}: {job.phase}"
            assert job.created_count + job.updated_count == job.total_rows == rows
        assert sum(job.created_count for job in jobs) == rows, "a product was created twice"
        slowest = max(job.duration_seconds or 0 for job in jobs)
        results.append((imports, seconds, imports * rows / seconds, slowest))
    for path in paths:
        path.unlink()

    alone = results[0][2]
    print(f"\n{rows:,} rows per import, the same SKUs in a different order in each file:")
    header = f"{'at once':>7} | {'wall s':>7} | {'total rows/s':>12} | {'vs one alone':>12} | {'slowest import s':>16}"
    print(header)
    print("-" * len(header))
    for imports, seconds, rate, slowest in results:
        print(f"{imports:>7} | {seconds:>7.1f} | {rate:>12,.0f} | {rate / alone:>11.2f}x | {slowest:>16.1f}")

    print(f"\nSingle-line files of {hostile_mb:,} MB (IMPORT_MAX_ROW_BYTES {settings.IMPORT_MAX_ROW_BYTES:,}):")
    print(f"{'file':<24} | {'seconds':>7} | {'outcome':<28} | {'worker peak RSS MB':>18}")
    for shape in SHAPES:
        path = write_single_line(data_dir / "hostile.csv", shape, hostile_mb)
        seconds, rss, (job,) = import_at_once([path], pool="solo")
        path.unlink()
        outcome = f"{job.status}, {job.error_count} row error(s)"
        print(f"{shape:<24} | {seconds:>7.1f} | {outcome:<28} | {rss:>18.1f}")
    print("\nload average at the end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
