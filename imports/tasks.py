from __future__ import annotations

from celery import shared_task

from imports import services
from imports.models import ImportJob


@shared_task(
    bind=True,
    name="imports.tasks.process_csv_upload",
    acks_late=True,
    reject_on_worker_lost=True,  # a killed worker's import is delivered again and resumes
    throws=(services.ImportFailed,),
)
def process_csv_upload(self, job_id: int) -> dict:
    """Run (or resume) one import job; progress goes to the job row and to this task's state."""
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is None:
        return {"job_id": job_id, "status": "missing"}

    def progress(job: ImportJob) -> None:
        self.update_state(state="PROGRESS", meta=services.import_job_status(job, error_limit=0))

    job = services.import_job_run(job=job, on_progress=progress)
    summary = services.import_job_status(job, error_limit=0)
    if job.status == ImportJob.Status.FAILURE:
        raise services.ImportFailed(job.error_message)
    return summary
