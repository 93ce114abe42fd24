#!/usr/bin/env python
"""Exporting the catalogue as CSV through the API, beside PostgreSQL's own COPY of the same rows.

Fills its own database with --rows products (COPY, _common.fill, as api_bench.py does; kept
while it holds exactly --rows), starts gunicorn serving the project (one sync worker, settings
as in production), and downloads `GET /api/v1/products/export` as a client would, streamed with
requests (iter_content), with the token of a user who may only view products. It checks the file
(header, one record per product, the same first product as COPY), and reads the peak RSS of the
gunicorn worker that served it (VmHWM of the worker process, not the arbiter). In the same run
it times `COPY (SELECT sku, name, description, active FROM products_product ORDER BY created_at
DESC, id DESC) TO STDOUT WITH (FORMAT csv)`: the same rows in the export's order, read with
psycopg. With --rounds, downloads and COPYs alternate and the medians are kept.

Targets: 1,000,000 products at 100,000 rows/s or more, the web process under 150 MB peak RSS.

    .venv/bin/python benchmarks/export_bench.py                  # 1,000,000 products
    .venv/bin/python benchmarks/export_bench.py --quick          # 20,000 products (own database)
    .venv/bin/python benchmarks/export_bench.py --rows 50000 --rounds 3

Settings are production-like (DEBUG off, a throw-away SECRET_KEY, FULFIL_ENV_FILE=/dev/null so a
developer's .env is ignored: see benchmarks/_common.py); the broker is not used.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import psycopg
from _common import (
    TABLE,
    api_session,
    api_token,
    catalogue_ready,
    django_setup,
    ensure_database,
    gunicorn_start,
)

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/fulfil_bench_export"
QUICK_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/fulfil_bench_export_quick"
TARGET_ROWS = 1_000_000
TARGET_ROWS_PER_SECOND = 100_000
TARGET_PEAK_RSS_MB = 150.0
# The export's columns and order: products.selectors.product_export over the list's default ordering.
COPY = (
    f"COPY (SELECT sku, name, description, active FROM {TABLE} ORDER BY created_at DESC, id DESC)"
    " TO STDOUT WITH (FORMAT csv)"
)
HEADER = b"sku,name,description,active\r\n"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, help=f"products to export (default {TARGET_ROWS:,}; 20,000 with --quick)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 20,000 products in a database of its own")
    parser.add_argument("--rounds", type=int, default=1, help="downloads and COPYs, alternating; medians (default 1)")
    parser.add_argument("--database-url", help=f"default {DEFAULT_DATABASE_URL} ({QUICK_DATABASE_URL} with --quick)")
    parser.add_argument("--refill", action="store_true", help="fill the table again even if it has --rows rows")
    parser.add_argument("--seed", type=int, default=42, help="random seed for the data")
    args = parser.parse_args()
    args.database_url = args.database_url or (QUICK_DATABASE_URL if args.quick else DEFAULT_DATABASE_URL)
    args.rows = args.rows or (20_000 if args.quick else TARGET_ROWS)
    return args


def download(url: str, token: str) -> tuple[float, int, int, bytes]:
    """GET the export as a client would, streamed; (seconds to the last byte, bytes, records, first
    data line). Records are counted by their CRLF ends: the export writes records with CRLF, and
    the generated names and descriptions hold no carriage return."""
    received = records = 0
    head = b""
    previous = b""
    with api_session(token) as session:
        started = time.perf_counter()
        with session.get(f"{url}/api/v1/products/export", stream=True, timeout=(5, 120)) as response:
            if response.status_code != 200:
                raise RuntimeError(f"the export answered {response.status_code}: {response.text[:300]}")
            for piece in response.iter_content(chunk_size=1 << 16):
                received += len(piece)
                records += piece.count(b"\r\n") + (previous == b"\r" and piece[:1] == b"\n")
                previous = piece[-1:]
                if len(head) < 4096:
                    head += piece[:4096]
        seconds = time.perf_counter() - started
    if not head.startswith(HEADER):
        raise RuntimeError(f"the export does not start with its header: {head[:80]!r}")
    first = next(csv.reader(io.StringIO(head[len(HEADER) :].decode(errors="replace"))))
    return seconds, received, records - 1, first[0].encode()


def copy_out(database_url: str) -> tuple[float, int, bytes]:
    """PostgreSQL's own CSV of the same rows in the same order, read with psycopg; (seconds, bytes, first SKU)."""
    received = 0
    head = b""
    with psycopg.connect(database_url, autocommit=True) as conn, conn.cursor() as cursor:
        started = time.perf_counter()
        with cursor.copy(COPY) as copy:
            for piece in copy:
                received += len(piece)
                if len(head) < 4096:
                    head += bytes(piece[:4096])
        seconds = time.perf_counter() - started
    first = next(csv.reader(io.StringIO(head.decode(errors="replace"))))
    return seconds, received, first[0].encode()


def main() -> None:
    args = parse_args()
    ensure_database(args.database_url)
    django_setup(database_url=args.database_url)
    from django.core.management import call_command

    from fulfil.processes import peak_rss_mb

    call_command("migrate", interactive=False, verbosity=0)
    with psycopg.connect(args.database_url, autocommit=True) as raw:
        catalogue_ready(raw, args.rows, random.Random(args.seed), refill=args.refill)
        version = raw.execute("SHOW server_version").fetchone()[0]
    token = api_token("products.view_product")

    logs = Path(tempfile.mkdtemp(prefix="fulfil-export-bench-"))
    web, url = gunicorn_start("--workers", "1", "--timeout", "120", "--log-level", "warning", log=logs / "gunicorn.log")
    try:
        (worker,) = web.children()  # the one process that serves requests
        with api_session(token) as session:  # warm-up: the API stack loaded, as after any first request
            session.get(f"{url}/api/v1/products?limit=1", timeout=30).raise_for_status()
        before = peak_rss_mb(worker)
        load_before = os.getloadavg()[0]
        exports, copies = [], []
        for _ in range(args.rounds):
            seconds, size, records, first = download(url, token)
            if records != args.rows:
                raise RuntimeError(f"the export held {records:,} records, not {args.rows:,}")
            exports.append((seconds, size, first))
            copies.append(copy_out(args.database_url))
        peak = peak_rss_mb(worker)
        if web.children() != [worker]:
            raise RuntimeError(f"the gunicorn worker was replaced during the run; see {logs / 'gunicorn.log'}")
        load_after = os.getloadavg()[0]
    finally:
        web.stop()

    if exports[0][2] != copies[0][2]:
        raise RuntimeError(f"the export starts with {exports[0][2]!r}, COPY with {copies[0][2]!r}: not the same order")
    export_s = statistics.median(seconds for seconds, _, _ in exports)
    copy_s = statistics.median(seconds for seconds, _, _ in copies)
    export_rate, copy_rate = args.rows / export_s, args.rows / copy_s
    medians = f", medians of {args.rounds}" if args.rounds > 1 else ""
    print(
        f"\nExport of {args.rows:,} products, PostgreSQL {version}, {os.cpu_count()} CPUs, "
        f"gunicorn with 1 sync worker{medians}"
    )
    print(f"  load average (1 min) {load_before:.2f} before, {load_after:.2f} after: other work adds noise")
    print(f"  {'':<36} {'seconds':>8} {'rows/s':>10} {'MB':>8}")
    print(f"  {'GET /api/v1/products/export':<36} {export_s:>8.2f} {export_rate:>10,.0f} {exports[0][1] / 1e6:>8.1f}")
    print(f"  {'COPY (SELECT ...) TO STDOUT, CSV':<36} {copy_s:>8.2f} {copy_rate:>10,.0f} {copies[0][1] / 1e6:>8.1f}")
    print(f"  export / COPY: {export_s / copy_s:.2f}x the time")
    print(f"  gunicorn worker peak RSS: {peak:.1f} MB ({before:.1f} MB before the first download)")

    checks = [
        (f"rows/s >= {TARGET_ROWS_PER_SECOND:,}", export_rate >= TARGET_ROWS_PER_SECOND, f"{export_rate:,.0f}"),
        (f"web peak RSS < {TARGET_PEAK_RSS_MB:.0f} MB", peak < TARGET_PEAK_RSS_MB, f"{peak:.1f} MB"),
    ]
    for label, ok, value in checks:
        print(f"  {label:<28} {value:>12}  {'PASS' if ok else 'FAIL'}")
    if args.rows != TARGET_ROWS:
        print(f"  (the targets are set at {TARGET_ROWS:,} products; this run exported {args.rows:,})")
    print(f"(gunicorn's log in {logs})")


if __name__ == "__main__":
    main()
