"""FulFil settings: one file, every value from the environment (see .env.example).

A bad value stops start-up with ImproperlyConfigured naming the variable, so a typo in
production fails loudly instead of silently falling back to a default.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from fulfil.booleans import parse_bool
from fulfil.sentry import sentry_init

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
_env_file = Path(os.environ.get("FULFIL_ENV_FILE", BASE_DIR / ".env"))
if _env_file.is_file():
    environ.Env.read_env(_env_file)


def _bool(name: str, default: bool) -> bool:
    raw = env.str(name, default=None)
    if raw is None:
        return default
    value = parse_bool(raw, empty=False)
    if value is None:
        raise ImproperlyConfigured(f"{name} must be true or false, got {raw!r}")
    return value


def _int(name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
    raw = env.str(name, default=None)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise ImproperlyConfigured(f"{name} must be {bounds}, got {value}")
    return value


def _list(name: str, default: list[str]) -> list[str]:
    raw = env.str(name, default=None)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def _origins(name: str) -> list[str]:
    origins = _list(name, [])
    for origin in origins:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            raise ImproperlyConfigured(f"{name} entries must look like https://example.com, got {origin!r}")
    return origins


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _seconds(name: str, text: str) -> int:
    """A duration: a whole number of seconds, or one with a unit (30s, 5m, 2h, 5d)."""
    value = text.strip().lower()
    number, unit = (value[:-1], value[-1]) if value[-1:] in _UNITS else (value, "s")
    if not number.isascii() or not number.isdigit():
        raise ImproperlyConfigured(f"{name}: {text.strip()!r} is not a duration such as 30, 30s, 5m, 2h or 5d")
    return int(number) * _UNITS[unit]


def _duration(name: str, default: str) -> int:
    raw = env.str(name, default=None)
    return _seconds(name, raw if raw is not None and raw.strip() else default)


def _durations(name: str, default: str) -> tuple[int, ...]:
    raw = env.str(name, default=None)
    raw = raw if raw is not None and raw.strip() else default
    return tuple(_seconds(name, item) for item in raw.split(","))


def _rate(name: str, default: str) -> str:
    """A request rate as DRF writes it: a number, a slash and second, minute, hour or day (60/min)."""
    value = (env.str(name, default=None) or default).strip()
    number, _, period = value.partition("/")
    if not (number.isascii() and number.isdigit() and period[:1] in ("s", "m", "h", "d")):
        raise ImproperlyConfigured(f"{name} must look like 60/min (per sec, min, hour or day), got {value!r}")
    return value


def _url(name: str, default: str, schemes: tuple[str, ...]) -> str:
    value = env.str(name, default=default).strip() or default
    scheme = urlsplit(value).scheme
    if scheme not in schemes:
        raise ImproperlyConfigured(
            f"{name} must start with one of {', '.join(s + '://' for s in schemes)}, got {value!r}"
        )
    return value


# --- Core -------------------------------------------------------------------------------

DEBUG = _bool("DEBUG", False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not DEBUG and (len(SECRET_KEY) < 32 or SECRET_KEY.startswith("change-me")):
    raise ImproperlyConfigured(
        "SECRET_KEY must be set to a long random string (32 characters or more) when DEBUG is off: "
        'python -c "import secrets; print(secrets.token_urlsafe(50))" (make run writes one into .env)'
    )
if not SECRET_KEY:
    SECRET_KEY = "insecure-development-key-only-used-with-DEBUG-on"  # noqa: S105

ALLOWED_HOSTS = _list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG is off")
CSRF_TRUSTED_ORIGINS = _origins("CSRF_TRUSTED_ORIGINS")
CORS_ALLOWED_ORIGINS = _origins("CORS_ORIGINS")

INSTALLED_APPS = [
    "fulfil.admin.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "django_celery_results",
    "axes",
    "fulfil",
    "products",
    "imports",
    "webhooks",
]

MIDDLEWARE = [
    "fulfil.logs.RequestIdMiddleware",
    "fulfil.metrics.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "fulfil.api.SingleValuedQueryMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "fulfil.urls"
WSGI_APPLICATION = "fulfil.wsgi.application"
# Paths are matched with or without a trailing slash by the URL patterns themselves, so
# CommonMiddleware must not redirect (a redirect would turn a POST into a GET).
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------

_database_url = _url(
    "DATABASE_URL",
    f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
    ("sqlite", "postgres", "postgresql", "pgsql", "psql"),
)
try:
    DATABASES = {"default": env.db_url_config(_database_url)}
except Exception as exc:  # django-environ raises several types for a malformed URL
    raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
DATABASES["default"]["CONN_MAX_AGE"] = _int("DATABASE_CONN_MAX_AGE", 60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default: WAL lets the web process read while the worker writes.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth, i18n, static -----------------------------------------------------------------

# django-axes first: it refuses a login from a locked-out address or for a locked-out username
# before the password is checked (see "Security" in the README).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="") or "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default="") or VAR_DIR / "media")
MEDIA_URL = "media/"
# Uploaded files: in MEDIA_ROOT (the embedded default; web and workers must share it), or with a
# bucket named, in S3-compatible object storage (django-storages), so workers can run on any host.
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="").strip()
# Empty: AWS itself; otherwise the S3-compatible server's URL (MinIO: http://minio:9000).
AWS_S3_ENDPOINT_URL = (
    _url("AWS_S3_ENDPOINT_URL", "", ("http", "https")) if env.str("AWS_S3_ENDPOINT_URL", default="").strip() else None
)
AWS_ACCESS_KEY_ID = env.str("AWS_ACCESS_KEY_ID", default="") or None
AWS_SECRET_ACCESS_KEY = env.str("AWS_SECRET_ACCESS_KEY", default="") or None
AWS_S3_REGION_NAME = env.str("AWS_S3_REGION_NAME", default="").strip() or None
# Servers other than AWS (MinIO, Ceph, ...) are addressed as ENDPOINT/BUCKET/KEY, not BUCKET.ENDPOINT.
AWS_S3_ADDRESSING_STYLE = "path" if AWS_S3_ENDPOINT_URL else None
AWS_DEFAULT_ACL = None  # objects are private; the bucket's policy decides
if AWS_S3_ENDPOINT_URL and not AWS_STORAGE_BUCKET_NAME:
    raise ImproperlyConfigured("AWS_S3_ENDPOINT_URL is set but AWS_STORAGE_BUCKET_NAME is not")
# Where a worker keeps its own copy of an import's file while it reads it (object storage only).
IMPORT_WORK_DIR = Path(env.str("IMPORT_WORK_DIR", default="").strip() or tempfile.gettempdir())
STORAGES = {
    "default": {
        "BACKEND": "storages.backends.s3.S3Storage"
        if AWS_STORAGE_BUCKET_NAME
        else "django.core.files.storage.FileSystemStorage"
    },
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Uploaded files are streamed to a temporary file, never held in memory, and stopped at the limit.
FILE_UPLOAD_HANDLERS = [
    "imports.uploads.SizeLimitUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
DATA_UPLOAD_MAX_MEMORY_SIZE = 10_485_760

# --- Security (DEBUG off) ---------------------------------------------------------------

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if _bool("BEHIND_HTTPS_PROXY", False) else None
SECURE_SSL_REDIRECT = _bool("SECURE_SSL_REDIRECT", False)
# Health checks and Prometheus, from inside the network, speak plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^api/v1/hello/?$", r"^metrics/?$"]
SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = _bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = _int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = _bool("SECURE_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# The client's address: the connecting one, or behind the TLS proxy the one it appends to
# X-Forwarded-For (a client cannot choose what the throttles and the login lock-out count).
TRUSTED_PROXIES = 1 if SECURE_PROXY_SSL_HEADER else 0

# --- Login lock-out (django-axes) -------------------------------------------------------

# After LOGIN_FAILURE_LIMIT failed admin logins from one address, or for one username, further
# tries from it (or for it) are refused with 429 for LOGIN_LOCKOUT_MINUTES; a success does not
# clear failures. `manage.py axes_reset` lifts every lock-out at once. A maintained library rather
# than a rule of our own: it hooks every way Django authenticates (not only the admin's form), keeps
# its records in the database (no Redis needed, shared by every web process), and brings an admin
# page of attempts and the commands to lift lock-outs.
AXES_FAILURE_LIMIT = _int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = _int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1) / 60  # hours
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_RESET_ON_SUCCESS = False
AXES_DISABLE_ACCESS_LOG = True  # failures are recorded; successful logins are not worth a row each
AXES_IPWARE_PROXY_COUNT = TRUSTED_PROXIES or None
AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if TRUSTED_PROXIES else ["REMOTE_ADDR"]
AXES_LOCKOUT_TEMPLATE = "admin/lockout.html"

# --- REST framework ---------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["fulfil.permissions.ModelPermissions"],
    "DEFAULT_PAGINATION_CLASS": "fulfil.api.Pagination",
    # The schema documents JSON bodies (uploads: multipart, on their own endpoint), whose values
    # must have its types (fulfil.serializers.StrictJSONMixin). Form-encoded and multipart bodies
    # are still read, as they always were (the browsable API's forms, scripts using curl -d), with
    # Django's form coercion of their text values.
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    # No search by default (a list with search fields names its bounded search filter); ordering
    # refuses what it does not know (fulfil.filters).
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "fulfil.filters.StrictOrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "fulfil.schema.AutoSchema",
    "EXCEPTION_HANDLER": "fulfil.api.exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # fulfil.throttles: per address for anonymous callers, per user for writes, uploads and
    # webhook test sends (the rates below, read when each request is counted).
    "DEFAULT_THROTTLE_CLASSES": [
        "fulfil.throttles.AnonThrottle",
        "fulfil.throttles.WriteThrottle",
        "fulfil.throttles.ActionThrottle",
    ],
    "NUM_PROXIES": TRUSTED_PROXIES,
}
API_THROTTLE_RATES = {
    "anon": _rate("API_THROTTLE_ANON", "60/min"),
    "write": _rate("API_THROTTLE_WRITES", "600/min"),
    "upload": _rate("API_THROTTLE_UPLOADS", "30/hour"),
    "webhook_test": _rate("API_THROTTLE_WEBHOOK_TESTS", "20/min"),
}
# A statement of the web process (API and admin) stops after this long (PostgreSQL); the API
# answers 503. Workers have no such limit (imports write in long statements).
WEB_STATEMENT_TIMEOUT_MS = _int("WEB_STATEMENT_TIMEOUT_MS", 5000, minimum=100)
# Lists the planner expects to be short are counted exactly when that takes at most this long;
# past it (a search matching much of a large catalogue) the count is the planner's estimate.
EXACT_COUNT_TIMEOUT_MS = _int("EXACT_COUNT_TIMEOUT_MS", 100, minimum=1)
SPECTACULAR_SETTINGS = {
    "TITLE": "FulFil API",
    "DESCRIPTION": "Product catalogue, CSV imports and webhooks.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "PREPROCESSING_HOOKS": ["fulfil.schema.strip_optional_slash"],
    "ENUM_NAME_OVERRIDES": {"JobStatusEnum": "fulfil.jobs.BackgroundJob.Status"},
    "PARSER_WHITELIST": ["rest_framework.parsers.JSONParser"],
}

# --- Celery -----------------------------------------------------------------------------

CELERY_BROKER_URL = _url("CELERY_BROKER_URL", "filesystem://", ("redis", "rediss", "amqp", "filesystem", "memory"))
if CELERY_BROKER_URL.startswith("filesystem://"):
    # Embedded default: messages are files under var/, so the quick start needs no server. The
    # folders below say where; the host is only named so kombu does not warn on every message
    # that none was given.
    CELERY_BROKER_URL = "filesystem://localhost/"
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),  # broadcasts (inspect, revoke)
        "store_processed": False,
    }
else:
    # Re-deliver an unacknowledged import after the worker died, but not before an hour-long
    # task could have finished (the visibility timeout must exceed the task time limit).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": _int("CELERY_VISIBILITY_TIMEOUT", 3900, minimum=1)}
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="") or "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
# A task is stopped at the hard limit; at the soft limit an import or delete-all rolls back its
# chunk in flight and fails with that reason (Retry resumes it).
CELERY_TASK_TIME_LIMIT = _int("CELERY_TASK_TIME_LIMIT", 3600, minimum=10)
CELERY_TASK_SOFT_TIME_LIMIT = _int("CELERY_TASK_SOFT_TIME_LIMIT", CELERY_TASK_TIME_LIMIT - 60, minimum=5)
if CELERY_TASK_SOFT_TIME_LIMIT >= CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured("CELERY_TASK_SOFT_TIME_LIMIT must be below CELERY_TASK_TIME_LIMIT")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_MAX_TASKS_PER_CHILD = 1000
CELERY_TASK_TRACK_STARTED = True
CELERY_TASK_ALWAYS_EAGER = _bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "imports.tasks.*": {"queue": "imports"},
    "products.tasks.*": {"queue": "imports"},
    "webhooks.tasks.*": {"queue": "webhooks"},
}
# The beat schedule (`celery -A fulfil beat`). Task results are kept RESULT_EXPIRES; beat also runs
# Celery's own backend clean-up daily at 04:00.
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    "cleanup-old-imports": {
        "task": "fulfil.tasks.cleanup_old_imports",
        "schedule": crontab(minute=15),  # hourly, at a quarter past
    },
    "fail-stale-jobs": {"task": "fulfil.tasks.fail_stale_jobs", "schedule": 60.0},
}
CELERY_RESULT_EXPIRES = _int("CELERY_RESULT_EXPIRES_DAYS", 7, minimum=1) * 86400
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- Cache (throttle counters) ----------------------------------------------------------

# CACHE_URL, or the broker's Redis when it is Redis, or this process's memory (the embedded
# quick start: one web process). The throttles fail open when it is unreachable.
_cache_url = env.str("CACHE_URL", default="").strip()
if not _cache_url and CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    _cache_url = CELERY_BROKER_URL
if _cache_url and not _cache_url.startswith(("redis://", "rediss://", "locmem://")):
    raise ImproperlyConfigured(f"CACHE_URL must start with redis://, rediss:// or locmem://, got {_cache_url!r}")
if _cache_url.startswith(("redis://", "rediss://")):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _cache_url,
            "KEY_PREFIX": "fulfil-cache",
            # A Redis that is down must cost a request a moment, not a hang.
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "fulfil"}}

# --- Webhooks ---------------------------------------------------------------------------

# Off: webhook URLs that are or resolve to loopback, private or shared addresses are refused
# (checked when connecting, on every attempt). On: allowed, for self-hosted receivers. Link-local
# (cloud metadata), multicast and reserved addresses are refused either way.
WEBHOOK_ALLOW_PRIVATE_NETWORKS = _bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", False)
WEBHOOK_REQUIRE_HTTPS = _bool("WEBHOOK_REQUIRE_HTTPS", False)
# Waits before each retry of a failed delivery (the first attempt is immediate); a webhook makes
# up to its retry_count retries, the last wait repeating past the end of the list.
WEBHOOK_RETRY_SCHEDULE = _durations("WEBHOOK_RETRY_SCHEDULE", "5s,5m,30m,2h,5h,10h")
# The longest wait before a retry, in seconds: caps the schedule and a receiver's Retry-After.
WEBHOOK_RETRY_BACKOFF_MAX = _int("WEBHOOK_RETRY_BACKOFF_MAX", 36_000, maximum=7 * 86400)
# A retry due within this many seconds is queued at once as a delayed message; a later one waits
# in the database (its attempt's next_attempt_at) until the relay queues it, because Redis hands
# an unacknowledged delayed message to another worker after CELERY_VISIBILITY_TIMEOUT.
WEBHOOK_RETRY_COUNTDOWN_MAX = _int("WEBHOOK_RETRY_COUNTDOWN_MAX", 60, minimum=0, maximum=600)
# A webhook whose every attempt has failed for this long is disabled (0: never); a 410 Gone
# disables it at once.
WEBHOOK_DISABLE_AFTER = _duration("WEBHOOK_DISABLE_AFTER", "5d")
# Deprecated: failures are no longer counted. Only 0 ("never disable") still means something,
# as WEBHOOK_DISABLE_AFTER=0 (see fulfil.checks).
WEBHOOK_DISABLE_AFTER_FAILURES = _int("WEBHOOK_DISABLE_AFTER_FAILURES", -1, minimum=-1)
if WEBHOOK_DISABLE_AFTER_FAILURES == 0 and env.str("WEBHOOK_DISABLE_AFTER", default="") == "":
    WEBHOOK_DISABLE_AFTER = 0
# Seconds between runs of the relay (beat): it queues outbox events that the after-commit kick
# could not, and retries that have come due.
WEBHOOK_RELAY_INTERVAL = _int("WEBHOOK_RELAY_INTERVAL", 5, minimum=1, maximum=300)
# A run that waited in the queue longer than the interval is dropped: the next one does its work.
CELERY_BEAT_SCHEDULE["webhook-relay"] = {
    "task": "webhooks.tasks.webhook_relay_task",
    "schedule": float(WEBHOOK_RELAY_INTERVAL),
    "options": {"expires": float(WEBHOOK_RELAY_INTERVAL)},
}
# A delayed message must come due well inside the visibility timeout: at most half of it.
WEBHOOK_RETRY_COUNTDOWN_MAX = min(WEBHOOK_RETRY_COUNTDOWN_MAX, _int("CELERY_VISIBILITY_TIMEOUT", 3900, minimum=1) // 2)
WEBHOOK_LOG_RETENTION_DAYS = _int("WEBHOOK_LOG_RETENTION_DAYS", 30, minimum=1)

# --- FulFil -----------------------------------------------------------------------------

FULFIL_HEALTH_BROKER_TIMEOUT = 2.0

# --- Monitoring -------------------------------------------------------------------------

# /metrics (Prometheus) answers only `Authorization: Bearer <METRICS_TOKEN>`; empty: /metrics is off (404).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="").strip()
if METRICS_TOKEN and len(METRICS_TOKEN) < 32:
    raise ImproperlyConfigured("METRICS_TOKEN must be 32 characters or more (or empty: no /metrics)")
# Unhandled errors in requests and tasks go to Sentry when a DSN is set; nothing is sent otherwise.
SENTRY_DSN = _url("SENTRY_DSN", "", ("http", "https")) if env.str("SENTRY_DSN", default="").strip() else ""
SENTRY_ENVIRONMENT = env.str("SENTRY_ENVIRONMENT", default="").strip() or "production"
sentry_init(dsn=SENTRY_DSN, environment=SENTRY_ENVIRONMENT)

# --- Products ---------------------------------------------------------------------------

# Products removed per transaction by "delete all".
PRODUCT_DELETE_BATCH_SIZE = _int("PRODUCT_DELETE_BATCH_SIZE", 10_000, minimum=1, maximum=100_000)

# --- Imports ----------------------------------------------------------------------------

# Rows per transaction; chosen by benchmarks/import_bench.py (see the README's figures).
IMPORT_CHUNK_SIZE = _int("IMPORT_CHUNK_SIZE", 5000, minimum=1, maximum=50_000)
# Database connections an import writes on at once (PostgreSQL); see imports.pipeline.
IMPORT_WRITERS = _int("IMPORT_WRITERS", 2, minimum=1, maximum=8)
# The longest record read from a file (bytes; characters for non-ASCII text); a longer one is a
# row error, read past without being held in memory.
IMPORT_MAX_ROW_BYTES = _int("IMPORT_MAX_ROW_BYTES", 1 << 20, minimum=1024, maximum=64 << 20)
# Rows whose values equal the stored product's are not written (counted as unchanged); false
# writes every row, as a plain upsert does (every updated_at moves).
IMPORT_SKIP_UNCHANGED = _bool("IMPORT_SKIP_UNCHANGED", True)
# Rejected rows stored per import (the error report lists these); the rest are counted only.
IMPORT_MAX_STORED_ERRORS = _int("IMPORT_MAX_STORED_ERRORS", 10_000, minimum=1)
# A job whose worker died this many times while running it is failed instead of started again,
# so a file that kills workers cannot block the queue.
IMPORT_MAX_ATTEMPTS = _int("IMPORT_MAX_ATTEMPTS", 3, minimum=1)
# A running import or delete-all that has not reported for this many seconds is failed by
# housekeeping (its worker is gone), so it can be retried.
JOB_STALE_AFTER = _int("JOB_STALE_AFTER", 600, minimum=60)
# Finished imports (and their uploaded files) and delete-all records are removed after this many days.
IMPORT_RETENTION_DAYS = _int("IMPORT_RETENTION_DAYS", 30, minimum=1)
# Uploads larger than this are refused with 413.
IMPORT_MAX_UPLOAD_BYTES = _int("IMPORT_MAX_UPLOAD_BYTES", 1 << 30, minimum=1)

# --- Logging ----------------------------------------------------------------------------

LOG_LEVEL = (env.str("LOG_LEVEL", default="") or "INFO").upper()
if LOG_LEVEL not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
    raise ImproperlyConfigured(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {LOG_LEVEL!r}")
# json (one JSON object per line, for log collectors) or text (for a terminal).
LOG_FORMAT = (env.str("LOG_FORMAT", default="") or ("text" if DEBUG else "json")).lower()
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or text, got {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "fulfil.logs.ContextFilter"}},
    "formatters": {
        "json": {"()": "fulfil.logs.JsonFormatter"},
        "text": {"()": "fulfil.logs.TextFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["context"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
# Workers log through the same handler (JSON lines with task ids) instead of Celery's own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
