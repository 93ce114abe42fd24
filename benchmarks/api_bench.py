#!/usr/bin/env python
"""Latency of the product API and admin at a million products, beside raw SQL for the same queries.

Fills its own PostgreSQL database (created if missing, migrated, filled by PostgreSQL itself: see
_common.fill), then times each operation through the whole Django stack in-process (URL routing,
middleware, token or session auth, DRF, django-filter, the service layer, serialization or
template rendering, the ORM) and the same statements sent with psycopg directly, and prints
median and p95 of both.

    .venv/bin/python benchmarks/api_bench.py             # 1,000,000 products, 200 iterations
    .venv/bin/python benchmarks/api_bench.py --quick     # 20,000 products, 30 iterations (own database)
    .venv/bin/python benchmarks/api_bench.py --explain   # EXPLAIN ANALYZE every operation's raw SQL
    .venv/bin/python benchmarks/api_bench.py --json figures.json   # also write the figures as JSON
    .venv/bin/python benchmarks/api_bench.py --seconds-per-operation 60   # bound slow operations (deep offsets)

Targets: every read under 50 ms p95, every write under 30 ms p95. Below the table, an operation
that misses its target gets the EXPLAIN ANALYZE of its raw statements and, when the SQL alone is
within target, a profile of where the framework spends its time.

The data is filled once and reused while the table holds exactly --rows products (--refill forces
a new fill); the rows a run creates are deleted again at the end. Settings are production-like
(DEBUG off, so no query log; a throw-away SECRET_KEY; FULFIL_ENV_FILE=/dev/null so a developer's
.env is ignored: see benchmarks/_common.py), with an in-memory Celery broker.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import gc
import io
import json
import os
import pstats
import random
import secrets
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import psycopg
from _common import (
    COLORS,
    ITEMS,
    MATERIALS,
    RARE_WORDS,
    TABLE,
    catalogue_ready,
    django_setup,
    ensure_database,
    make_description,
    make_name,
    percentiles,
)
from psycopg import sql

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/fulfil_bench_api"
QUICK_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/fulfil_bench_api_quick"
FIELDS = "id, sku, sku_key, name, description, active, created_at, updated_at"  # what the ORM selects
BENCH_PREFIX = "BENCH-"  # SKUs of rows the benchmark itself creates; deleted at the end of a run
READ_TARGET_MS = 50.0
PROFILE_REQUESTS = 20
MIN_REQUESTS = 5  # measured per operation however slow it is (see --seconds-per-operation)
WRITE_TARGET_MS = 30.0

# --- Database set-up --------------------------------------------------------------------


def delete_bench_rows(conn: psycopg.Connection) -> int:
    cur = conn.execute(sql.SQL("DELETE FROM {} WHERE sku LIKE %s").format(sql.Identifier(TABLE)), [BENCH_PREFIX + "%"])
    return cur.rowcount


# --- Measuring --------------------------------------------------------------------------

Statement = tuple[str, list]


@dataclass
class Operation:
    name: str
    kind: str  # "read" or "write"
    # Iteration number -> one request through Django; the response's status code is checked.
    request: Callable[[int], object]
    expected_status: int
    # Iteration number -> the statements Django sends for the same request (auth aside).
    statements: Callable[[int], list[Statement]]
    framework_ms: list[float] = field(default_factory=list)
    raw_ms: list[float] = field(default_factory=list)
    matched: list[int] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    full_gc_ms: list[float] = field(default_factory=list)  # pauses of generation-2 collections in requests

    @property
    def target(self) -> float:
        return READ_TARGET_MS if self.kind == "read" else WRITE_TARGET_MS

    @property
    def passed(self) -> bool:
        return percentiles(self.framework_ms)[1] < self.target


class FullCollections:
    """A gc callback that records how long each full (generation 2) collection takes.

    Django's admin changelist leaves thousands of reference cycles per request (forms, bound
    fields, template contexts), so every ~20th request pays for a full collection."""

    def __init__(self, pauses: list[float]) -> None:
        self.pauses = pauses
        self.started = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if info["generation"] == 2:
            if phase == "start":
                self.started = time.perf_counter()
            else:
                self.pauses.append((time.perf_counter() - self.started) * 1000)


# What products.selectors.ProductText compiles to inside icontains: the expression of the trigram
# index product_text_trgm_idx, which search and the contains filters go through.
PRODUCT_TEXT = "UPPER((sku::text || CHR(10) || name::text || CHR(10) || description::text))"


def like(term: str) -> str:
    """The pattern Django's icontains sends: the term with LIKE wildcards escaped, between %."""
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def page_statements(where: str, params: list, *, limit: int = 20, offset: int = 0, order: str = "") -> list[Statement]:
    """What the list sends for a page: PostgreSQL's estimate of the count (the API also counts
    exactly below 100,000 rows, for at most EXACT_COUNT_TIMEOUT_MS), then the page."""
    order = order or "created_at DESC, id DESC"
    return [
        (f"EXPLAIN (FORMAT JSON) SELECT * FROM {TABLE}{where}", params),
        (f"SELECT {FIELDS} FROM {TABLE}{where} ORDER BY {order} LIMIT {limit} OFFSET {offset}", params),
    ]


def keyset_cursor(position: str) -> str:
    """The `cursor` DRF's CursorPagination gives for the page starting after `position`."""
    return base64.b64encode(urlencode({"p": position}).encode()).decode()


def build_operations(args: argparse.Namespace, rng: random.Random, raw: psycopg.Connection) -> list[Operation]:
    from django.contrib.auth.models import User
    from django.test import Client
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from fulfil.pagination import EXACT_COUNT_BELOW

    user = User.objects.filter(username="bench").first()
    if user is None:
        user = User.objects.create_user("bench", "bench@example.com", None, is_staff=True, is_superuser=True)
    token, _ = Token.objects.get_or_create(user=user)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    admin = Client()
    admin.force_login(user)

    # Parameter slots: warm-up, one request whose SQL is captured, the measured ones, and 20 to
    # profile, so no two requests share a parameter (and no create reuses a SKU).
    total = args.warmup + 1 + args.iterations + PROFILE_REQUESTS
    # Existing products to look up and update, different ones for Django and for raw SQL.
    sample = raw.execute(
        sql.SQL("SELECT id, sku FROM {} ORDER BY random() LIMIT %s").format(sql.Identifier(TABLE)), [4 * total]
    ).fetchall()
    if len(sample) < 4 * total:
        raise SystemExit(f"need at least {4 * total} products for distinct parameters; use more --rows")
    lookups_api, lookups_raw = sample[:total], sample[total : 2 * total]
    updates_api, updates_raw = sample[2 * total : 3 * total], sample[3 * total :]

    def vary_case(sku: str) -> str:
        return sku.lower() if rng.random() < 0.5 else sku.swapcase().title()

    sku_terms = [vary_case(sku) for _, sku in lookups_api + lookups_raw]
    # Selective name fragments: a four-digit number matches ~0.01% of names.
    name_terms = [str(rng.randint(1000, 9999)) for _ in range(2 * total)]

    # Search terms cycle through what staff type: a SKU's number, a rare word, two words, a model number.
    def search_term(i: int) -> str:
        kind = i % 4
        if kind == 0:
            return f"{rng.randrange(1, args.rows + 1):06d}"
        if kind == 1:
            return rng.choice(RARE_WORDS).lower()
        if kind == 2:
            return f"{rng.choice(RARE_WORDS)} {rng.choice(ITEMS)}".lower()
        return f"{rng.choice(ITEMS).lower()} {rng.randint(100, 9999)}"

    search_terms = [search_term(i) for i in range(2 * total)]
    run = secrets.token_hex(3)
    new_names = [make_name(rng) for _ in range(2 * total)]
    new_descriptions = [make_description(rng) for _ in range(total)]

    # Raw statements use the second half of each parameter list.
    def search_where(terms: str) -> tuple[str, list]:
        clauses, params = [], []
        for term in terms.split():
            clauses.append(f"{PRODUCT_TEXT} LIKE UPPER(%s)")
            params.append(like(term))
        return " WHERE " + " AND ".join(clauses), params

    def contains_where(column: str, term: str) -> tuple[str, list]:
        return f" WHERE {PRODUCT_TEXT} LIKE UPPER(%s) AND STRPOS(UPPER({column}::text), UPPER(%s)) > 0", [
            like(term),
            term,
        ]

    def create_statements(i: int) -> list[Statement]:
        sku = f"{BENCH_PREFIX}{run}-R{i:05d}"
        values = [uuid.uuid4(), sku, new_names[i], new_descriptions[i], True, datetime.now(UTC)]
        insert = (
            f"INSERT INTO {TABLE} (id, sku, name, description, active, updated_at) VALUES (%s, %s, %s, %s, %s, %s) "
            "RETURNING sku_key, created_at"
        )
        return [(insert, values)]

    def update_statements(i: int) -> list[Statement]:
        product_id = updates_raw[i][0]
        update_values = [new_names[total + i], datetime.now(UTC), product_id]
        return [
            (f"SELECT {FIELDS} FROM {TABLE} WHERE id = %s LIMIT 21", [product_id]),
            (f"UPDATE {TABLE} SET name = %s, updated_at = %s WHERE id = %s", update_values),
        ]

    # The admin's paginator shows the planner's estimate for a big unfiltered table, else counts.
    estimate = raw.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [TABLE]).fetchone()[0]
    admin_statements = [("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [TABLE])]
    if estimate < EXACT_COUNT_BELOW:
        admin_statements.append((f"SELECT count(*) FROM {TABLE}", []))
    admin_statements.append((f"SELECT {FIELDS} FROM {TABLE} ORDER BY created_at DESC, id DESC LIMIT 50", []))

    # A page nine tenths of the way down the list, by offset and by keyset (cursor).
    deep = int(args.rows * 0.9) // 20 * 20
    deep_created = raw.execute(
        f"SELECT created_at FROM {TABLE} ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET %s", [deep]
    ).fetchone()[0]
    deep_cursor = keyset_cursor(deep_created.isoformat())
    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    description_terms = [f"{rng.choice(COLORS)} {rng.choice(ITEMS)}".lower() for _ in range(2 * total)]
    two_word_terms = [f"{rng.choice(MATERIALS)} {rng.choice(ITEMS)}".lower() for _ in range(2 * total)]

    list_path = "/api/v1/products"
    return [
        Operation(
            "deep page (offset 90%)",
            "read",
            lambda i: api.get(list_path, {"offset": deep}),
            200,
            lambda i: page_statements("", [], offset=deep),
        ),
        Operation(
            "deep page (cursor 90%)",
            "read",
            lambda i: api.get(list_path, {"cursor": deep_cursor}),
            200,
            lambda i: [
                (
                    f"SELECT {FIELDS} FROM {TABLE} WHERE created_at < %s ORDER BY created_at DESC, id DESC LIMIT 21",
                    [deep_created],
                )
            ],
        ),
        Operation(
            "SKU contains",
            "read",
            lambda i: api.get(list_path, {"sku": sku_terms[i][4:11]}),
            200,
            lambda i: page_statements(*contains_where("sku", sku_terms[total + i][4:11])),
        ),
        Operation(
            "description contains",
            "read",
            lambda i: api.get(list_path, {"description": description_terms[i]}),
            200,
            lambda i: page_statements(*contains_where("description", description_terms[total + i])),
        ),
        Operation(
            "active=false",
            "read",
            lambda i: api.get(list_path, {"active": "false"}),
            200,
            lambda i: page_statements(" WHERE NOT active", []),
        ),
        Operation(
            "updated in the last hour",
            "read",
            lambda i: api.get(list_path, {"updated_after": hour_ago}),
            200,
            lambda i: page_statements(" WHERE updated_at >= %s", [hour_ago]),
        ),
        Operation(
            "search, two common words",
            "read",
            lambda i: api.get(list_path, {"search": two_word_terms[i]}),
            200,
            lambda i: page_statements(*search_where(two_word_terms[total + i])),
        ),
        Operation(
            "admin search",
            "read",
            lambda i: admin.get("/admin/products/product/", {"q": search_terms[i]}),
            200,
            lambda i: [
                (
                    f"SELECT {FIELDS} FROM {TABLE}{search_where(search_terms[total + i])[0]} "
                    "ORDER BY created_at DESC, id DESC LIMIT 50",
                    search_where(search_terms[total + i])[1],
                )
            ],
        ),
        Operation(
            "list page",
            "read",
            lambda i: api.get(list_path),
            200,
            lambda i: page_statements("", []),
        ),
        Operation(
            "SKU exact lookup",
            "read",
            lambda i: api.get(list_path, {"sku_exact": sku_terms[i]}),
            200,
            lambda i: page_statements(" WHERE sku_key = %s", [sku_terms[total + i].lower()]),
        ),
        Operation(
            "name contains",
            "read",
            lambda i: api.get(list_path, {"name": name_terms[i]}),
            200,
            lambda i: page_statements(*contains_where("name", name_terms[total + i])),
        ),
        Operation(
            "search",
            "read",
            lambda i: api.get(list_path, {"search": search_terms[i]}),
            200,
            lambda i: page_statements(*search_where(search_terms[total + i])),
        ),
        Operation(
            "create",
            "write",
            lambda i: api.post(
                list_path,
                {"sku": f"{BENCH_PREFIX}{run}-A{i:05d}", "name": new_names[i], "description": new_descriptions[i]},
                format="json",
            ),
            201,
            create_statements,
        ),
        Operation(
            "update (PATCH name)",
            "write",
            lambda i: api.patch(f"{list_path}/{updates_api[i][0]}", {"name": new_names[i]}, format="json"),
            200,
            update_statements,
        ),
        Operation(
            "admin product list",
            "read",
            lambda i: admin.get("/admin/products/product/"),
            200,
            lambda i: admin_statements,
        ),
    ]


def run_raw(cur: psycopg.Cursor, statements: list[Statement]) -> None:
    for query, params in statements:
        cur.execute(query, params)
        if cur.description is not None:
            cur.fetchall()


def measure(op: Operation, args: argparse.Namespace, raw: psycopg.Connection) -> None:
    """Warm up, then alternate one Django request and the same statements in raw SQL."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    cur = raw.cursor()
    budget = args.seconds_per_operation or float("inf")
    warming = time.perf_counter()
    for i in range(args.warmup):
        check(op, op.request(i))
        run_raw(cur, op.statements(i))
        if time.perf_counter() - warming > budget / 4:
            break
    with CaptureQueriesContext(connection) as captured:
        check(op, op.request(args.warmup))
    op.queries = [q["sql"] for q in captured.captured_queries]
    if args.show_sql:
        print("\n".join(f"    {query}" for query in op.queries))
    collections = FullCollections(op.full_gc_ms)
    measuring = time.perf_counter()
    for i in range(args.warmup + 1, args.warmup + 1 + args.iterations):
        if len(op.framework_ms) >= MIN_REQUESTS and time.perf_counter() - measuring > budget:
            break
        gc.callbacks.append(collections)
        started = time.perf_counter()
        response = op.request(i)
        op.framework_ms.append((time.perf_counter() - started) * 1000)
        gc.callbacks.remove(collections)
        check(op, response)
        if op.kind == "read" and response["Content-Type"].startswith("application/json"):
            body = response.json()
            if "count" in body:
                op.matched.append(body["count"])
        statements = op.statements(i)
        started = time.perf_counter()
        run_raw(cur, statements)
        op.raw_ms.append((time.perf_counter() - started) * 1000)


def check(op: Operation, response) -> None:
    if response.status_code != op.expected_status:
        raise SystemExit(
            f"{op.name}: expected HTTP {op.expected_status}, got {response.status_code}: {response.content[:500]!r}"
        )


# --- Reporting --------------------------------------------------------------------------


def print_table(operations: list[Operation]) -> None:
    header = ("operation", "median ms", "p95 ms", "raw SQL median", "raw SQL p95", "ratio", "target", "pass/fail")
    rows = []
    for op in operations:
        median, p95 = percentiles(op.framework_ms)
        raw_median, raw_p95 = percentiles(op.raw_ms)
        rows.append(
            (
                op.name,
                f"{median:.1f}",
                f"{p95:.1f}",
                f"{raw_median:.2f}",
                f"{raw_p95:.2f}",
                f"{median / raw_median:.1f}x" if raw_median else "-",
                f"p95 < {op.target:.0f} ms",
                "pass" if op.passed else "FAIL",
            )
        )
    widths = [max(len(str(row[c])) for row in [header, *rows]) for c in range(len(header))]

    def line(cells) -> str:
        return " | ".join(
            cell.ljust(width) if c == 0 else cell.rjust(width)
            for c, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )

    print(line(header))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(line(row))


def print_details(operations: list[Operation], iterations: int) -> None:
    print("\nPer operation: SQL queries per Django request, rows matched (median of the API's count),")
    print("and full garbage collections (generation 2) that fell inside the measured requests:")
    for op in operations:
        matched = f", {statistics.median(op.matched):,.0f} rows matched" if op.matched else ""
        pauses = op.full_gc_ms
        collections = f", {len(pauses)} full GCs (mean {statistics.mean(pauses):.0f} ms)" if pauses else ", no full GC"
        cut = len(op.framework_ms) < iterations
        measured = f" in {len(op.framework_ms)} requests (its time ran out)" if cut else ""
        print(f"  {op.name}: {len(op.queries)} queries{matched}{collections}{measured}")


def write_json(path: Path, args: argparse.Namespace, operations: list[Operation], **run: object) -> None:
    """The table's figures and the full collections per operation, for other scripts (scale_bench.py)."""

    def figures(op: Operation) -> dict:
        median, p95 = percentiles(op.framework_ms)
        raw_median, raw_p95 = percentiles(op.raw_ms)
        pauses = op.full_gc_ms
        return {
            "name": op.name,
            "kind": op.kind,
            "requests": len(op.framework_ms),
            "target_ms": op.target,
            "median_ms": median,
            "p95_ms": p95,
            "raw_median_ms": raw_median,
            "raw_p95_ms": raw_p95,
            "matched": statistics.median(op.matched) if op.matched else None,
            "full_gcs": len(pauses),
            "full_gc_mean_ms": statistics.mean(pauses) if pauses else None,
            "passed": op.passed,
        }

    data = {"rows": args.rows, "iterations": args.iterations, **run, "operations": [figures(op) for op in operations]}
    path.write_text(json.dumps(data, indent=2))


def explain(raw: psycopg.Connection, op: Operation, i: int) -> None:
    """EXPLAIN ANALYZE the statements of slot i (the captured request's slot: raw SQL never ran it),
    rolled back so a write leaves nothing behind."""
    print(f"\n=== {op.name}: EXPLAIN (ANALYZE, BUFFERS) of its raw statements")
    with raw.transaction(force_rollback=True), raw.cursor() as cur:
        for query, params in op.statements(i):
            if query.startswith("EXPLAIN"):  # the list's estimated count: planning only
                continue
            cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + query, params)
            plan = [text for (text,) in cur.fetchall()]
            print(cur.mogrify(query, params))
            print("\n".join("    " + text for text in plan))


def profile(op: Operation, args: argparse.Namespace) -> None:
    print(f"\n=== {op.name}: where Django spends the time (cProfile, {PROFILE_REQUESTS} requests)")
    profiler = cProfile.Profile()
    first = args.warmup + 1 + args.iterations
    for i in range(first, first + PROFILE_REQUESTS):
        profiler.runcall(op.request, i)
    out = io.StringIO()
    # The layers where time goes (admin, forms, DRF, the ORM, the project), not the wrappers around them.
    where = (
        r"contrib/admin|django/forms/|template/response|sql/compiler.py:\d+\(execute_sql"
        r"|rest_framework/|products/|fulfil/"
    )
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(where, 25)
    print(out.getvalue())


# --- Main -------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help=f"default {DEFAULT_DATABASE_URL} ({QUICK_DATABASE_URL} with --quick)")
    parser.add_argument("--rows", type=int, help="products in the table (default 1,000,000; 20,000 with --quick)")
    parser.add_argument("--iterations", type=int, help="measured requests per operation (default 200; 30 with --quick)")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured requests per operation first (default 20)")
    parser.add_argument(
        "--seconds-per-operation",
        type=float,
        help=f"stop measuring an operation after this long (at least {MIN_REQUESTS} requests; warm-up a quarter of it)",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 20,000 rows, 30 iterations, own database")
    parser.add_argument("--refill", action="store_true", help="fill the table again even if it has --rows rows")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE every operation, not just failures")
    parser.add_argument("--profile", action="store_true", help="cProfile every operation, not just failures")
    parser.add_argument("--only", help="measure only the operations whose name contains this text")
    parser.add_argument("--show-sql", action="store_true", help="print the SQL of one request per operation")
    parser.add_argument("--seed", type=int, default=42, help="random seed for data and parameters")
    parser.add_argument("--json", metavar="PATH", help="also write each operation's figures to this JSON file")
    args = parser.parse_args()
    args.database_url = args.database_url or (QUICK_DATABASE_URL if args.quick else DEFAULT_DATABASE_URL)
    args.rows = args.rows or (20_000 if args.quick else 1_000_000)
    args.iterations = args.iterations or (30 if args.quick else 200)
    return args


def main() -> None:
    args = parse_args()
    rng = random.Random(args.seed)
    ensure_database(args.database_url)
    django_setup(database_url=args.database_url)

    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)

    raw = psycopg.connect(args.database_url, autocommit=True, cursor_factory=psycopg.ClientCursor)
    leftovers = delete_bench_rows(raw)
    if leftovers:
        print(f"deleted {leftovers} rows left by an interrupted run")
    catalogue_ready(raw, args.rows, rng, refill=args.refill)

    operations = [op for op in build_operations(args, rng, raw) if not args.only or args.only in op.name]
    version = raw.execute("SHOW server_version").fetchone()[0]
    load_before = os.getloadavg()
    print(
        f"\n{args.rows:,} products, PostgreSQL {version}, {os.cpu_count()} CPUs, {args.warmup} warm-up + "
        f"{args.iterations} measured requests per operation (Django test client in-process vs psycopg)",
        flush=True,
    )
    try:
        for op in operations:
            print(f"  measuring {op.name} ...", flush=True)
            measure(op, args, raw)
        load_after = os.getloadavg()
        print(f"  load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after: other work adds noise\n")

        print_table(operations)
        print_details(operations, args.iterations)
        if args.json:
            write_json(
                Path(args.json), args, operations, postgresql=version, load_before=load_before, load_after=load_after
            )
        for op in operations:
            if args.explain or args.profile or not op.passed:
                explain(raw, op, args.warmup)
                if args.profile or (not op.passed and percentiles(op.raw_ms)[1] < op.target):
                    profile(op, args)
    finally:
        # After the profiles too: a profiled create creates products. The table again holds --rows,
        # so the next run reuses it.
        removed = delete_bench_rows(raw)
        raw.execute(sql.SQL("VACUUM {}").format(sql.Identifier(TABLE)))
        print(f"\n(deleted the {removed} products the run created)")
    failed = [op.name for op in operations if not op.passed]
    print(f"{'FAILED: ' + ', '.join(failed) if failed else 'every operation within target'}")


if __name__ == "__main__":
    main()
