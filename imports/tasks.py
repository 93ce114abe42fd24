from __future__ import annotations

from typing import Any

from celery import Task, shared_task

from fulfil.jobs import JobFailed, background_job_task
from imports.run import ImportRun


@shared_task(
    bind=True,
    name="imports.tasks.process_csv_upload",
    acks_late=True,
    reject_on_worker_lost=True,  # a killed worker's import is delivered again and resumes
    throws=(JobFailed,),
)
def process_csv_upload(self: Task, job_id: int) -> dict[str, Any]:
    """Run (or resume) one import job; progress goes to the job row and to this task's state."""
    return background_job_task(self, ImportRun, job_id)
