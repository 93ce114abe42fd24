from __future__ import annotations

from celery import shared_task

from fulfil.housekeeping import housekeeping_run
from fulfil.jobs import background_jobs_fail_stale


@shared_task(name="fulfil.tasks.cleanup_old_imports", ignore_result=False)
def cleanup_old_imports() -> dict[str, int]:
    """The periodic clean-up (the original service's cleanup_old_imports): old imports and their
    files, old delete-all records and old webhook delivery logs."""
    return housekeeping_run()


@shared_task(name="fulfil.tasks.fail_stale_jobs", ignore_result=True)
def fail_stale_jobs() -> int:
    """Every minute: fail running imports and delete-alls whose worker stopped reporting."""
    return background_jobs_fail_stale()
