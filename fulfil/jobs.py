"""What every background job record shares: Celery's states, a human phase, cancel and timing."""

from __future__ import annotations

import logging

from django.db import models, transaction
from django.utils import timezone

logger = logging.getLogger(__name__)


class BackgroundJob(models.Model):
    """A long task's record, written by the task as it goes and read by the API and the admin."""

    class Status(models.TextChoices):
        # Celery's state names, so the job and the task speak the same language.
        PENDING = "PENDING", "Queued"
        STARTED = "STARTED", "Started"
        PROGRESS = "PROGRESS", "In progress"
        SUCCESS = "SUCCESS", "Complete"
        FAILURE = "FAILURE", "Failed"
        REVOKED = "REVOKED", "Cancelled"

    FINISHED = (Status.SUCCESS, Status.FAILURE, Status.REVOKED)

    task_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    phase = models.CharField(max_length=500, default="Queued")
    error_message = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    def progress(self) -> tuple[int, int | None]:
        """(units done, units in all, None while unknown): rows for an import, products for a delete."""
        raise NotImplementedError

    @property
    def percent(self) -> float:
        if self.status == self.Status.SUCCESS:
            return 100.0
        done, total = self.progress()
        if not total:
            return 0.0
        return round(min(100.0, 100.0 * done / total), 1)

    @property
    def duration_seconds(self) -> float | None:
        if not self.started_at:
            return None
        end = self.finished_at or timezone.now()
        return max((end - self.started_at).total_seconds(), 0.0)

    def finish(self, status: str, phase: str, *, save: bool = True) -> None:
        self.status, self.phase, self.finished_at = status, phase, timezone.now()
        if save:
            self.save(update_fields=["status", "phase", "finished_at", "updated_at"])


def background_job_enqueue(*, job: BackgroundJob, task, failed: str = "Failed") -> None:
    """Queue the job's task (argument: the job id; task id: the job's) once the transaction commits.

    If the broker cannot take it, the job fails at once with the reason, so it can be retried,
    instead of waiting as "Queued" for a message that was never sent.
    """

    def send() -> None:
        try:
            task.apply_async(args=[job.pk], task_id=job.task_id)
        except Exception as exc:  # kombu raises OperationalError and friends
            logger.error("could not queue %s %s: %s", job._meta.model_name, job.pk, exc, extra={"job_id": job.pk})
            job.error_message = f"the task queue is unreachable ({exc}); nothing was done, retry when it is back"
            job.save(update_fields=["error_message", "updated_at"])
            job.finish(job.Status.FAILURE, f"{failed}: the task queue is unreachable")

    transaction.on_commit(send)


def background_job_cancel(*, job: BackgroundJob) -> BackgroundJob:
    """Ask a job to stop after its current chunk (what it committed stays); a queued one never starts."""
    from fulfil.celery import app
    from fulfil.errors import Conflict

    model = type(job)
    if job.is_finished:
        raise Conflict(f"{model._meta.verbose_name.capitalize()} #{job.pk} has already finished "
                       f"({job.get_status_display().lower()}).")  # fmt: skip
    with transaction.atomic():
        job = model.objects.select_for_update().get(pk=job.pk)
        job.cancel_requested = True
        fields = ["cancel_requested", "updated_at"]
        if job.status == job.Status.PENDING:
            job.finish(job.Status.REVOKED, "Cancelled before it started", save=False)
            fields += ["status", "phase", "finished_at"]
        job.save(update_fields=fields)
    if job.status == job.Status.REVOKED and job.task_id:
        app.control.revoke(job.task_id)  # drop the queued message where the broker supports it
    return job


def background_job_for_task(task_id: str) -> BackgroundJob | None:
    """The import, delete-all or other job record that a Celery task id belongs to, if any."""
    for model in _job_models():
        job = model.objects.filter(task_id=task_id).first()
        if job is not None:
            return job
    return None


def background_job_cancel_requested(job: BackgroundJob) -> bool:
    """Has someone asked this running job to stop? (One cheap query, made between chunks.)"""
    return type(job).objects.filter(pk=job.pk, cancel_requested=True).exists()


def _job_models() -> list[type[BackgroundJob]]:
    from django.apps import apps

    return [m for m in apps.get_models() if issubclass(m, BackgroundJob)]
