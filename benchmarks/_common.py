"""What every benchmark shares: its database and the catalogue it fills, Django's set-up, Celery
workers, gunicorn and an API client, and percentiles.

Imported first by each benchmark: it puts the project root on sys.path, so `fulfil`, the apps
and scripts/receiver.py import as they do in the test suite.
"""

from __future__ import annotations

import os
import random
import secrets
import socket
import statistics
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import requests
from psycopg import sql

if TYPE_CHECKING:
    from fulfil.processes import CeleryWorker, ChildProcess

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The Redis database the benchmarks' workers use (the test suite's default is 15).
BROKER_URL = "redis://127.0.0.1:6379/13"


def ensure_database(url: str) -> None:
    """Create the database `url` names when it is missing (connecting to `postgres` on the same server)."""
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(url, dbname="postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"created database {name}")


def django_setup(*, database_url: str, broker_url: str = "memory://", **environment: str) -> None:
    """Settings from the environment, production-like, then Django, started as gunicorn starts it.

    DEBUG is off (so no query log), the SECRET_KEY is thrown away after the run, FULFIL_ENV_FILE is
    /dev/null so a developer's .env is ignored, logs stop at WARNING, the test client's and
    loopback's host names are allowed, and neither throttles nor the web statement timeout get in
    the way; `environment` adds or overrides variables. They are set in
    os.environ, so the processes a benchmark starts (workers, gunicorn) run with the same settings.
    """
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "fulfil.settings",
            "FULFIL_ENV_FILE": os.devnull,
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": broker_url,
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(32),
            "ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
            "LOG_LEVEL": "WARNING",
            # A benchmark is a flood of its own making, and fills tables in long statements.
            **{f"API_THROTTLE_{scope}": "100000000/min" for scope in ("ANON", "WRITES", "UPLOADS", "WEBHOOK_TESTS")},
            "WEB_STATEMENT_TIMEOUT_MS": str(3_600_000),
            **environment,
        }
    )
    import django
    from django.conf import settings
    from django.test.utils import override_settings

    # whitenoise warns that there is no collected static directory; no benchmark needs one.
    warnings.filterwarnings("ignore", message="No directory at")
    django.setup()
    import fulfil.wsgi  # noqa: F401 - start-up as gunicorn does it (wsgi.py freezes start-up objects for the GC)

    # Production serves static files from a collected manifest; the benchmarks have none, so the
    # admin's {% static %} tags use plain storage (a dict lookup against a path join).
    override_settings(
        STORAGES={
            **settings.STORAGES,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
    ).enable()


def worker_start(queues: str, **options) -> CeleryWorker:
    """A real Celery worker (the test suite's, fulfil/processes.py) with this run's settings, once it
    answers; options as CeleryWorker takes them (pool, concurrency, name, env, log)."""
    from fulfil.processes import CeleryWorker

    worker = CeleryWorker(queues, loglevel="WARNING", **options)
    try:
        worker.wait_ready()
    except BaseException:
        worker.stop()
        raise
    return worker


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn_start(*options: str, log: Path | None = None) -> tuple[ChildProcess, str]:
    """gunicorn serving the project with this run's settings on a free loopback port,
    once /api/v1/hello answers; `options` are gunicorn's (--workers, ...). Returns it and its base URL."""
    from fulfil.processes import ChildProcess, wait_until

    url = f"http://127.0.0.1:{free_port()}"
    command = [sys.executable, "-m", "gunicorn", "fulfil.wsgi", "--bind", url.removeprefix("http://"), *options]
    web = ChildProcess(command, log=log)
    try:
        wait_until(lambda: _answers(url), 60, "gunicorn", web)
    except BaseException:
        web.stop()
        raise
    return web, url


def _answers(url: str) -> bool:
    try:
        with api_session() as session:
            return session.get(f"{url}/api/v1/hello", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def api_session(token: str = "") -> requests.Session:
    """A client for the benchmark's own server: never through a proxy, with the API token if given."""
    session = requests.Session()
    session.trust_env = False  # loopback only
    if token:
        session.headers["Authorization"] = f"Token {token}"
    return session


def api_token(*permissions: str) -> str:
    """The API token of a new user with these permissions ("app.codename"), or a superuser's with none."""
    from django.contrib.auth.models import Permission, User
    from rest_framework.authtoken.models import Token

    name = f"bench-{secrets.token_hex(4)}"
    if not permissions:
        user = User.objects.create_superuser(name, password=None)
    else:
        user = User.objects.create_user(name, password=None)
        for permission in permissions:
            app_label, codename = permission.split(".")
            user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return Token.objects.create(user=user).key


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: other work on this machine adds noise to every figure."""
    return ", ".join(f"{load:.2f}" for load in os.getloadavg())


def percentiles(samples: Sequence[float]) -> tuple[float, float]:
    """Median and 95th percentile, as every benchmark reports them: the 50th and 95th of the 99 cut
    points of statistics.quantiles(n=100, method="inclusive") (linear between the nearest samples)."""
    if len(samples) == 1:
        return samples[0], samples[0]
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49], cuts[94]


# --- The catalogue the benchmarks fill ----------------------------------------------------------

TABLE = "products_product"

COLORS = ("Red", "Blue", "Green", "Black", "White", "Grey", "Navy", "Beige", "Olive", "Maroon", "Teal", "Yellow")
MATERIALS = ("Cotton", "Linen", "Wool", "Denim", "Leather", "Silk", "Canvas", "Fleece", "Suede", "Bamboo")
ITEMS = (
    *("Shirt", "Trousers", "Jacket", "Scarf", "Hat", "Sweater", "Dress", "Skirt", "Belt", "Bag"),
    *("Shorts", "Hoodie", "Coat", "Gloves", "Socks", "Blazer", "Vest", "Cardigan", "Tie", "Apron"),
)
# About 1% of names carry one of these, so each matches roughly 0.1% of the catalogue.
RARE_WORDS = ("Vintage", "Heritage", "Artisan", "Monogram", "Expedition", "Harbour", "Meridian", "Tundra")
SKU_PREFIXES = ("SKU", "SKU", "SKU", "ITM", "PRD", "ACC")
SENTENCES = (
    "Made from {material} for everyday wear.",
    "Machine washable at 30 degrees.",
    "Cut for a relaxed fit.",
    "Pairs well with our {color} {item}.",
    "Ships in recyclable packaging.",
    "Fits true to size.",
    "Hand finished in small batches.",
    "Lined for extra warmth on cold days.",
    "Reinforced seams for a longer life.",
    "Part of the {season} collection.",
)
SEASONS = ("spring", "summer", "autumn", "winter")
UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Distinct descriptions the fill draws from: a few templates with a handful of words each make
# fewer than 20,000 different ones, so a pool this size holds them in their natural proportions.
DESCRIPTION_POOL = 100_000


def make_name(rng: random.Random) -> str:
    words = [rng.choice(COLORS), rng.choice(MATERIALS), rng.choice(ITEMS), str(rng.randint(1, 9999))]
    if rng.random() < 0.01:
        words.insert(0, rng.choice(RARE_WORDS))
    return " ".join(words)


def make_description(rng: random.Random) -> str:
    sentences = [
        template.format(
            material=rng.choice(MATERIALS).lower(),
            color=rng.choice(COLORS).lower(),
            item=rng.choice(ITEMS).lower(),
            season=rng.choice(SEASONS),
        )
        for template in rng.sample(SENTENCES, rng.randint(1, 3))
    ]
    return ("\n" if rng.random() < 0.25 else " ").join(sentences)


def make_sku(number: int, rng: random.Random) -> str:
    return f"{rng.choice(SKU_PREFIXES)}-{number:06d}-{rng.choice(UPPER)}{rng.choice(UPPER)}"


def _pick(words: str) -> str:
    """SQL for one element of the text[] parameter `words`, chosen at random for each row."""
    return f"(%({words})s::text[])[1 + floor(random() * cardinality(%({words})s::text[]))::int]"


# What make_sku, make_name and make_description give, with a description drawn from the pool, for
# products 1 to %(rows)s: ~10% inactive, created over the last year, updated up to 30 days later.
GENERATE = f"""
INSERT INTO {TABLE} (id, sku, name, description, active, created_at, updated_at)
SELECT gen_random_uuid(),
       {_pick("prefixes")} || '-' || lpad(g.n::text, greatest(6, length(g.n::text)), '0') || '-'
           || chr(65 + floor(random() * 26)::int) || chr(65 + floor(random() * 26)::int),
       CASE WHEN random() < 0.01 THEN {_pick("rare")} || ' ' ELSE '' END
           || {_pick("colors")} || ' ' || {_pick("materials")} || ' ' || {_pick("items")}
           || ' ' || (1 + floor(random() * 9999)::int),
       d.description,
       random() >= 0.1,
       g.created,
       least(now(), g.created + random() * interval '30 days')
FROM (
    -- A subquery with volatile columns is not flattened: each row's created_at is drawn once.
    SELECT n, now() - random() * interval '365 days' AS created, floor(random() * %(pool)s)::int AS k
    FROM generate_series(1, %(rows)s) AS n
) AS g
JOIN pg_temp.descriptions AS d ON d.i = g.k
"""


def fill(conn: psycopg.Connection, rows: int, rng: random.Random) -> None:
    """Replace the catalogue with `rows` generated products, in one transaction.

    The rows are generated by PostgreSQL itself (one INSERT ... SELECT from generate_series, with
    the same word lists and proportions as make_name and make_sku, and descriptions drawn from a
    pool that make_description wrote), several times faster than generating them in Python and
    COPYing them: ten million take minutes. Every index, the primary key and the unique SKU key
    included, is dropped first and built again afterwards, which is much faster than maintaining
    them row by row; the unique key is checked when it is built. A failure rolls everything back.
    """
    started = time.perf_counter()
    pool = min(rows, DESCRIPTION_POOL)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SET LOCAL maintenance_work_mem = '1GB'")
        cur.execute("SELECT setseed(%s)", [rng.uniform(-1, 1)])  # the same catalogue for the same seed (ids aside)
        cur.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass"
            " AND contype IN ('p', 'u')",
            [TABLE],
        )
        constraints = cur.fetchall()
        cur.execute(
            """
            SELECT i.relname, pg_get_indexdef(i.oid)
            FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
            WHERE x.indrelid = %s::regclass
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
            """,
            [TABLE],
        )
        indexes = cur.fetchall()
        for name, _ in indexes:
            cur.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
        table = sql.Identifier(TABLE)
        for name, _ in constraints:
            cur.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(table, sql.Identifier(name)))
        cur.execute(sql.SQL("TRUNCATE {} CASCADE").format(table))
        cur.execute("CREATE TEMPORARY TABLE descriptions (i integer PRIMARY KEY, description text) ON COMMIT DROP")
        with cur.copy("COPY pg_temp.descriptions (i, description) FROM STDIN") as copy:
            for i in range(pool):
                copy.write_row((i, make_description(rng)))
        words = {"prefixes": SKU_PREFIXES, "rare": RARE_WORDS, "colors": COLORS, "materials": MATERIALS, "items": ITEMS}
        cur.execute(GENERATE, {**{key: list(value) for key, value in words.items()}, "pool": pool, "rows": rows})
        generated = time.perf_counter()
        print(f"  generated {rows:,} rows in {generated - started:.1f} s; building indexes", flush=True)
        for name, definition in constraints:
            cur.execute(
                sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(table, sql.Identifier(name), sql.SQL(definition))
            )
        for _, definition in indexes:
            cur.execute(definition)
        indexed = time.perf_counter()
    conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(TABLE)))
    print(
        f"  filled {rows:,} rows: generated {generated - started:.1f} s, {len(constraints) + len(indexes)} indexes "
        f"{indexed - generated:.1f} s, VACUUM ANALYZE {time.perf_counter() - indexed:.1f} s",
        flush=True,
    )


def catalogue_ready(conn: psycopg.Connection, rows: int, rng: random.Random, *, refill: bool = False) -> None:
    """Fill the catalogue with `rows` generated products unless it holds exactly that many already
    (a benchmark run again reuses them) or `refill` asks for a new fill."""
    existing = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(TABLE))).fetchone()[0]
    if refill or existing != rows:
        print(f"filling {TABLE} with {rows:,} products (had {existing:,})", flush=True)
        fill(conn, rows, rng)
    else:
        print(f"{TABLE} already has {existing:,} products (--refill to fill again)", flush=True)
