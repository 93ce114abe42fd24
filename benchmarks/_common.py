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
import uuid
import warnings
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
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
    /dev/null so a developer's .env is ignored, logs stop at WARNING, and the test client's and
    loopback's host names are allowed; `environment` adds or overrides variables. They are set in
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
    """gunicorn serving the project with this run's settings on a free loopback port, once
    /api/v1/hello answers; `options` are gunicorn's (--workers, ...). Returns it and its base URL."""
    from fulfil.processes import ChildProcess, wait_until

    url = f"http://127.0.0.1:{free_port()}"
    web = ChildProcess([sys.executable, "-m", "gunicorn", "fulfil.wsgi", "--bind", url[7:], *options], log=log)
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


def percentiles(samples: Sequence[float]) -> tuple[float, float]:
    """Median and 95th percentile, as every benchmark reports them: the 50th and 95th of the 99 cut
    points of statistics.quantiles(n=100, method="inclusive") (linear between the nearest samples)."""
    if len(samples) == 1:
        return samples[0], samples[0]
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49], cuts[94]


# --- The catalogue the benchmarks fill ----------------------------------------------------------

TABLE = "products_product"
COLUMNS = "id, sku, name, description, active, created_at, updated_at"  # loaded by COPY

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


def generate_rows(count: int, rng: random.Random) -> Iterator[tuple]:
    """Rows in COPY column order: ~10% inactive, created over the last year, updated a bit later."""
    now = datetime.now(UTC)
    year = 365 * 24 * 3600
    for number in range(1, count + 1):
        created = now - timedelta(seconds=rng.randrange(year))
        updated = min(now, created + timedelta(seconds=rng.randrange(30 * 24 * 3600)))
        yield (
            uuid.uuid4(),
            make_sku(number, rng),
            make_name(rng),
            make_description(rng),
            rng.random() >= 0.1,
            created,
            updated,
        )


# --- Database set-up --------------------------------------------------------------------


def fill(conn: psycopg.Connection, rows: int, rng: random.Random) -> None:
    """Replace the catalogue with `rows` generated products, in one transaction.

    Secondary indexes (the trigram GINs and the btrees) are dropped before the COPY and built
    again afterwards, which is several times faster than maintaining them row by row; the
    primary key and the unique SKU key stay. A failure rolls everything back, indexes included.
    """
    started = time.perf_counter()
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SET LOCAL maintenance_work_mem = '512MB'")
        cur.execute(
            """
            SELECT i.relname, pg_get_indexdef(i.oid)
            FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
            WHERE x.indrelid = %s::regclass
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
            """,
            [TABLE],
        )
        secondary = cur.fetchall()
        for name, _ in secondary:
            cur.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
        cur.execute(sql.SQL("TRUNCATE {} CASCADE").format(sql.Identifier(TABLE)))
        with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(TABLE), sql.SQL(COLUMNS))) as copy:
            for done, row in enumerate(generate_rows(rows, rng), 1):
                copy.write_row(row)
                if done % 250_000 == 0:
                    print(f"  {done:,} rows copied ({time.perf_counter() - started:.0f} s)", flush=True)
        copied = time.perf_counter()
        for _, definition in secondary:
            cur.execute(definition)
        indexed = time.perf_counter()
    conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(TABLE)))
    print(
        f"  filled {rows:,} rows: COPY {copied - started:.1f} s, {len(secondary)} indexes "
        f"{indexed - copied:.1f} s, VACUUM ANALYZE {time.perf_counter() - indexed:.1f} s",
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
        print(f"{TABLE} already has {existing:,} products (--refill to fill again)")
