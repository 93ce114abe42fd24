"""Reachability of what the app depends on, for the health endpoint and operators."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import connection

import fulfil

logger = logging.getLogger(__name__)


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "not reachable"
        logger.warning("health: database unreachable: %s", exc)
        return "unreachable"
    return "ok"


def _broker() -> str:
    from fulfil.celery import app

    try:
        with app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
            conn.ensure_connection(max_retries=1, timeout=settings.FULFIL_HEALTH_BROKER_TIMEOUT)  # type: ignore[arg-type]  # seconds, a float
    except Exception as exc:  # kombu raises transport-specific errors
        logger.warning("health: broker unreachable: %s", exc)
        return "unreachable"
    return "ok"


def _outbox() -> dict[str, Any]:
    from webhooks.outbox import webhook_outbox_backlog

    backlog = webhook_outbox_backlog()
    return {"outbox_pending": backlog["pending"], "outbox_oldest_age_seconds": backlog["oldest_age_seconds"]}


def health_check() -> dict[str, Any]:
    """`status` is "ok" when the database and the broker both answer, else "degraded". The outbox
    backlog (webhook events not yet queued, and the oldest one's age) is reported, not judged;
    None when the database does not answer."""
    database, broker = _database(), _broker()
    outbox = _outbox() if database == "ok" else {"outbox_pending": None, "outbox_oldest_age_seconds": None}
    return {
        "status": "ok" if database == broker == "ok" else "degraded",
        "database": database,
        "broker": broker,
        "version": fulfil.__version__,
        **outbox,
    }
