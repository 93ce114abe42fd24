"""Keeping the database and the upload folder from growing forever (beat runs it; so can you)."""

from __future__ import annotations

import logging
from datetime import datetime

from django.utils import timezone

from fulfil.jobs import background_jobs_fail_stale
from imports.services import import_jobs_prune
from products.services import product_deletions_prune
from webhooks.outbox import webhook_events_prune
from webhooks.services import webhook_delivery_log_prune

logger = logging.getLogger(__name__)


def housekeeping_run(*, now: datetime | None = None) -> dict[str, int]:
    """Fail running jobs whose worker is gone (see background_jobs_fail_stale); remove finished
    imports (with their files) and delete-all records past IMPORT_RETENTION_DAYS, and webhook
    delivery logs and events (the outbox) past WEBHOOK_LOG_RETENTION_DAYS, each in batches."""
    now = now or timezone.now()
    removed = {
        "stale_jobs_failed": background_jobs_fail_stale(now=now),
        "imports": import_jobs_prune(now=now),
        "product_deletions": product_deletions_prune(now=now),
        "webhook_deliveries": webhook_delivery_log_prune(now=now),
        "webhook_events": webhook_events_prune(now=now),
    }
    logger.info("housekeeping removed %s", removed, extra={"removed": removed})
    return removed
