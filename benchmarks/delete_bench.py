#!/usr/bin/env python
"""Deleting every product: the batched delete-all service beside the same run's TRUNCATE.

Fills its own database with --rows products (_common.fill, as api_bench.py does), times
`product_delete_all_run` (what the delete-all task runs: batches of PRODUCT_DELETE_BATCH_SIZE,
each its own transaction, FOR UPDATE SKIP LOCKED), fills again and times `TRUNCATE`.

    .venv/bin/python benchmarks/delete_bench.py                 # 1,000,000 products
    .venv/bin/python benchmarks/delete_bench.py --rows 50000    # a smoke run
    .venv/bin/python benchmarks/delete_bench.py --batch-sizes 5000,10000,50000

TRUNCATE is the floor, not an alternative: it takes an exclusive lock on the table for its whole
run (every read and write of products waits), cannot report progress or be cancelled half-way,
and fires no per-batch checkpoint; the batched delete keeps the catalogue usable throughout.
"""

from __future__ import annotations

import argparse
import random
import time

import psycopg
from _common import TABLE, django_setup, ensure_database, fill
from psycopg import sql


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-sizes", default="", help="comma-separated; default: the setting")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/fulfil_bench_delete")
    args = parser.parse_args()

    ensure_database(args.database_url)
    django_setup(database_url=args.database_url)
    from django.conf import settings
    from django.core.management import call_command

    from products.models import Product, ProductDeletion
    from products.services import product_delete_all_run

    call_command("migrate", verbosity=0)
    sizes = [int(s) for s in args.batch_sizes.split(",") if s] or [settings.PRODUCT_DELETE_BATCH_SIZE]
    rng = random.Random(1)
    results = []
    with psycopg.connect(args.database_url, autocommit=True) as raw:
        for size in sizes:
            fill(raw, args.rows, rng)
            settings.PRODUCT_DELETE_BATCH_SIZE = size
            job = ProductDeletion.objects.create(task_id=f"bench-{time.time_ns()}")
            started = time.perf_counter()
            job = product_delete_all_run(job=job)
            seconds = time.perf_counter() - started
            assert job.status == "SUCCESS" and job.deleted == args.rows and not Product.objects.exists()
            results.append((f"delete-all, batches of {size:,}", seconds))

        fill(raw, args.rows, rng)
        started = time.perf_counter()
        raw.execute(sql.SQL("TRUNCATE {} CASCADE").format(sql.Identifier(TABLE)))
        results.append(("TRUNCATE (floor)", time.perf_counter() - started))

    floor = results[-1][1]
    print(f"\nDeleting {args.rows:,} products")
    print(f"{'method':<32} {'seconds':>8} {'rows/s':>12} {'x TRUNCATE':>11}")
    for label, seconds in results:
        print(f"{label:<32} {seconds:>8.2f} {args.rows / seconds:>12,.0f} {seconds / floor:>10.1f}x")


if __name__ == "__main__":
    main()
