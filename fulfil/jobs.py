"""The life of every background job (an import, a delete-all, whatever comes next), written once.

`BackgroundJob` is the record every job shares: Celery's states, a human phase, progress,
heartbeat, attempts, cancel, timing and the reason it failed. `JobRunner` takes one job through
its life: start, phases, progress, cancel, finish, fail (with the reason, the log line and the
`*.failed` event). A job type subclasses it and writes only `work()`, the part particular to it,
calling `checkpoint()` after each chunk. `background_job_task` is the Celery task body every job
type shares, and `background_job_status` the status payload every endpoint, page and task shows.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from fulfil.database import session_lock
from fulfil.errors import Conflict
from fulfil.fields import fit

if TYPE_CHECKING:
    from celery import Task

logger = logging.getLogger(__name__)


class BackgroundJob(models.Model):
    """A long task's record, written by its runner as it goes and read by the API and the admin."""

    class Status(models.TextChoices):
        # Celery's state names, so the job and the task speak the same language.
        PENDING = "PENDING", "Queued"
        STARTED = "STARTED", "Started"
        PROGRESS = "PROGRESS", "In progress"
        SUCCESS = "SUCCESS", "Complete"
        FAILURE = "FAILURE", "Failed"
        REVOKED = "REVOKED", "Cancelled"

    FINISHED = (Status.SUCCESS, Status.FAILURE, Status.REVOKED)
    # The serializer of this job type's status payload (see background_job_status).
    STATUS_SERIALIZER: ClassVar[str]

    task_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    phase = models.CharField(max_length=500, default="Queued")
    error_message = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="When its runner last reported.")
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


J = TypeVar("J", bound=BackgroundJob)


class JobCancelled(Exception):
    """Raised by `checkpoint()` when someone asked the job to stop; the message is the final phase."""


class JobFailed(Exception):
    """The job cannot go on, for a reason a person can act on (the message says it)."""


class JobRunner(Generic[J]):
    """One run of a background job. Subclasses set the class attributes and write `work()`."""

    noun: ClassVar[str] = "job"  # in log lines: "import 5 started"
    start_status: ClassVar[str] = BackgroundJob.Status.STARTED
    start_phase: ClassVar[str] = "Starting"
    failed_phase: ClassVar[str] = "Failed"  # the phase of a failed job is "<failed_phase>: <reason>"
    internal_error: ClassVar[str] = "an internal error stopped it; what was committed so far stays"
    failed_event: ClassVar[str | None] = None  # the webhook event of a failure: data {task_id, error}
    lock_namespace: ClassVar[int]  # one run of a job at a time (see run)
    model: ClassVar[type[BackgroundJob]]

    def __init__(
        self,
        job: J,
        *,
        on_progress: Callable[[J], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        persist: bool = True,
    ) -> None:
        self.job = job
        self.on_progress = on_progress or (lambda job: None)
        self.should_stop = should_stop or (lambda: False)
        self.persist = persist  # False for a dry run: nothing is written, the job's record included
        self.log = logging.getLogger(type(self).__module__)  # the job type's own logger

    # --- What a job type writes ----------------------------------------------------------------

    def work(self) -> str:
        """Do the job, calling checkpoint() after each chunk; returns the phase of a success."""
        raise NotImplementedError

    def completed(self) -> None:
        """After a success is recorded: log the outcome and emit the job's event."""

    # --- The lifecycle -------------------------------------------------------------------------

    def run(self) -> J:
        """Run the job, or resume it after a crash; a finished job is left as it is.

        A PostgreSQL session lock on the job makes a task delivered twice (a broker redelivery
        while the first run is alive) a no-op instead of a second run of the same job.
        """
        job = self.job
        if not self.persist:
            return self._run()
        with session_lock(self.lock_namespace, job.pk) as mine:
            if not mine:
                self.log.info("%s %s is running elsewhere; not starting it twice", self.noun, job.pk)
                return job
            job.refresh_from_db()
            return self._run()

    def _run(self) -> J:
        job = self.job
        if job.is_finished:
            return job
        if job.cancel_requested:
            self._end(job.Status.REVOKED, "Cancelled before it started")
            return job
        job.attempts += 1
        job.status, job.phase = self.start_status, self.start_phase
        job.started_at = job.started_at or timezone.now()
        self.save("attempts", "status", "phase", "started_at")
        self.log.info("%s %s started (attempt %s)", self.noun, job.pk, job.attempts, extra={"job_id": job.pk})
        self.on_progress(job)
        try:
            phase = self.work()
        except JobCancelled as stop:
            self._end(job.Status.REVOKED, str(stop))
            self.log.info("%s %s cancelled: %s", self.noun, job.pk, stop, extra={"job_id": job.pk})
        except JobFailed as exc:
            self.fail(str(exc))
        except Exception:
            self.log.exception("%s %s failed", self.noun, job.pk, extra={"job_id": job.pk})
            with contextlib.suppress(Exception):  # the database itself may be what failed
                self.fail(self.internal_error)
            raise
        else:
            self._end(job.Status.SUCCESS, phase)
            self.completed()
        self.on_progress(job)
        return job

    def set_phase(self, phase: str, *fields: str, status: str = BackgroundJob.Status.PROGRESS) -> None:
        """Move to another phase, saving `fields` with it, and report it."""
        self.job.status, self.job.phase = status, phase
        self.save("status", "phase", *fields)
        self.on_progress(self.job)

    def save(self, *fields: str) -> None:
        """Save these fields of the job, with its heartbeat (in the caller's transaction, if any)."""
        if self.persist:
            self.job.heartbeat_at = timezone.now()
            self.job.save(update_fields=[*fields, "heartbeat_at", "updated_at"])

    def checkpoint(self, cancelled_phase: Callable[[], str]) -> None:
        """After a chunk has committed: report progress, then stop if someone asked it to."""
        self.on_progress(self.job)
        if self.cancel_requested():
            raise JobCancelled(cancelled_phase())

    def cancel_requested(self) -> bool:
        """Has someone asked this job to stop? (One cheap query, made between chunks.)"""
        if self.should_stop():
            return True
        job = self.job
        return self.persist and type(job)._default_manager.filter(pk=job.pk, cancel_requested=True).exists()

    def fail(self, reason: str) -> None:
        """Record that the job failed and why; log it and emit the job type's failure event."""
        job = self.job
        job.error_message = reason
        self._end(job.Status.FAILURE, fit(type(job), "phase", f"{self.failed_phase}: {reason}"), "error_message")
        self.log.warning("%s %s failed: %s", self.noun, job.pk, reason, extra={"job_id": job.pk})
        if self.persist and self.failed_event:
            from webhooks.events import event_emit

            event_emit(event=self.failed_event, data={"task_id": job.task_id, "error": reason})

    def _end(self, status: str, phase: str, *fields: str) -> None:
        job = self.job
        job.status, job.phase, job.finished_at = status, phase, timezone.now()
        self.save("status", "phase", "finished_at", *fields)


# --- Starting, cancelling, reading -----------------------------------------------------------


def job_owner(user: AbstractBaseUser | AnonymousUser | None) -> Any:
    """The user to record as having asked for a job: None for an anonymous one."""
    return user if user is not None and user.is_authenticated else None


def background_job_enqueue(*, job: BackgroundJob, task: Task, failed: str = "Failed") -> None:
    """Queue the job's task (argument: the job id; task id: the job's) once the transaction commits.

    If the broker cannot take it, the job fails at once with the reason, so it can be retried,
    instead of waiting as "Queued" for a message that was never sent.
    """

    def send() -> None:
        try:
            task.apply_async(args=(job.pk,), task_id=job.task_id)
        except Exception as exc:  # kombu raises OperationalError and friends
            logger.error("could not queue %s %s: %s", job._meta.model_name, job.pk, exc, extra={"job_id": job.pk})
            job.error_message = f"the task queue is unreachable ({exc}); nothing was done, retry when it is back"
            job.status, job.phase = job.Status.FAILURE, f"{failed}: the task queue is unreachable"
            job.finished_at = timezone.now()
            job.save(update_fields=["error_message", "status", "phase", "finished_at", "updated_at"])

    transaction.on_commit(send)


def background_job_cancel(*, job: J) -> J:
    """Ask a job to stop after its current chunk (what it committed stays); a queued one never starts."""
    from fulfil.celery import app

    model = type(job)
    if job.is_finished:
        raise Conflict(
            f"{str(model._meta.verbose_name).capitalize()} #{job.pk} has already finished "
            f"({job.get_status_display().lower()})."
        )
    with transaction.atomic():
        job = model._default_manager.select_for_update().get(pk=job.pk)
        job.cancel_requested = True
        fields = ["cancel_requested", "updated_at"]
        if job.status == job.Status.PENDING:
            job.status, job.phase, job.finished_at = job.Status.REVOKED, "Cancelled before it started", timezone.now()
            fields += ["status", "phase", "finished_at"]
        job.save(update_fields=fields)
    if job.status == job.Status.REVOKED and job.task_id:
        app.control.revoke(job.task_id)  # drop the queued message where the broker supports it
    return job


def background_job_for_task(task_id: str) -> BackgroundJob | None:
    """The import, delete-all or other job record that a Celery task id belongs to, if any."""
    for model in _job_models():
        job = model._default_manager.filter(task_id=task_id).first()
        if job is not None:
            return job
    return None


def background_job_status(job: BackgroundJob, **context: Any) -> dict[str, Any]:
    """The job's status payload, as every status endpoint, admin page and task state shows it."""
    return dict(import_string(job.STATUS_SERIALIZER)(job, context=context).data)


def background_job_task(task: Task, runner: type[JobRunner], job_id: int) -> dict[str, Any]:
    """The body of every job's Celery task: run (or resume) the job, with its status payload as the
    task's progress and result; a failed job fails the task, with the job's reason."""
    job = runner.model._default_manager.filter(pk=job_id).first()
    if job is None:
        return {"job_id": job_id, "status": "missing"}

    def progress(job: BackgroundJob) -> None:
        task.update_state(state="PROGRESS", meta=background_job_status(job, for_task=True))

    job = runner(job, on_progress=progress).run()
    if job.status == job.Status.FAILURE:
        raise JobFailed(job.error_message)
    return background_job_status(job, for_task=True)


def _job_models() -> list[type[BackgroundJob]]:
    from django.apps import apps

    return [m for m in apps.get_models() if issubclass(m, BackgroundJob)]
