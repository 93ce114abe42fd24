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
import signal
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from billiard.pool import SIG_SOFT_TIMEOUT, soft_timeout_sighandler
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models, transaction
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.module_loading import import_string

from fulfil.database import session_lock, with_retries
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
    RUNNING = (Status.STARTED, Status.PROGRESS)
    # The tones of an outcome (see `outcome`).
    TONES = ("success", "warning", "error", "neutral", "running", "preview")
    # The serializer of this job type's status payload (see background_job_status).
    STATUS_SERIALIZER: ClassVar[str]
    # A failed job's phase is "<FAILED_PHASE>: <reason>"; FAILED_EVENT (data: task_id, error) is
    # the webhook event of a failure, if the job type has one.
    FAILED_PHASE: ClassVar[str] = "Failed"
    FAILED_EVENT: ClassVar[str | None] = None

    task_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    phase = models.CharField(max_length=500, default="Queued")
    error_message = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Times a worker started it.")
    crashes = models.PositiveSmallIntegerField(
        default=0, help_text="Times its worker died while running it, since it was last queued."
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="When its runner last reported.")
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    @property
    def failed_event(self) -> str | None:
        """The webhook event of this job's failure, if any."""
        return self.FAILED_EVENT

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

    @property
    def seconds_left(self) -> float | None:
        """While it runs: the time the rest should take at the pace so far; None until it can tell."""
        elapsed = self.duration_seconds
        done, total = self.progress()
        if self.status not in self.RUNNING or not elapsed or not done or total is None:
            return None
        return max(total - done, 0) * elapsed / done

    @property
    def outcome(self) -> tuple[str, str]:
        """(what a person reads, its tone): how it went, or where it is, in a few words. The tone is
        one of TONES and colours badges, banners and bars."""
        status = self.Status
        if self.status == status.SUCCESS:
            return "Completed", "success"
        if self.status == status.FAILURE:
            return f"Failed: {self.error_message or self.phase}", "error"
        if self.status == status.REVOKED:
            return "Cancelled", "neutral"
        if self.cancel_requested:
            return "Cancelling: it stops after the current chunk", "running"
        if self.status == status.PENDING:
            return "Queued", "running"
        return f"Running {int(self.percent)}%", "running"


J = TypeVar("J", bound=BackgroundJob)


class JobCancelled(Exception):
    """Raised by `checkpoint()` when someone asked the job to stop; the message is the final phase."""


class JobFailed(Exception):
    """The job cannot go on, for a reason a person can act on (the message says it)."""


class JobLost(Exception):
    """The job's record says it is no longer this run's to write: housekeeping failed it as stale,
    or it was queued again. The run stops without writing."""


class JobBusy(Exception):
    """Another run of the job holds it (see JobRunner.run); try again later."""


class JobRunner(Generic[J]):
    """One run of a background job. Subclasses set the class attributes and write `work()`."""

    noun: ClassVar[str] = "job"  # in log lines: "import 5 started"
    start_status: ClassVar[str] = BackgroundJob.Status.STARTED
    start_phase: ClassVar[str] = "Starting"
    internal_error: ClassVar[str] = "an internal error stopped it; what was committed so far stays"
    lock_namespace: ClassVar[int]  # one run of a job at a time (see run)
    model: ClassVar[type[BackgroundJob]]
    # Why a job is failed instead of started again after its worker died max_attempts times.
    crashed: ClassVar[str] = "the worker stopped {attempts} times while running it"

    def __init__(
        self,
        job: J,
        *,
        on_progress: Callable[[J], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        persist: bool = True,
        deadline: float | None = None,
    ) -> None:
        self.job = job
        self.on_progress = on_progress or (lambda job: None)
        self.should_stop = should_stop or (lambda: False)
        self.persist = persist  # False for a dry run: nothing is written, the job's record included
        # time.monotonic() at the task's soft time limit: checkpoint() stops the run past it. It is
        # also where Celery's own signal at the limit lands (see soft_limit_at_checkpoints).
        self.deadline = deadline
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

        A PostgreSQL session lock on the job means one run at a time: a task delivered twice, or
        queued again while an earlier run is still alive, gets JobBusy instead of a second run.
        """
        job = self.job
        if not self.persist:
            return self._run()
        with session_lock(self.lock_namespace, job.pk) as mine:
            if not mine:
                raise JobBusy(f"{self.noun} {job.pk} is being run by another worker")
            job.refresh_from_db()
            try:
                return self._run()
            except JobLost:
                job.refresh_from_db()
                self.log.warning(
                    "%s %s stopped: it is %s elsewhere", self.noun, job.pk, job.status, extra={"job_id": job.pk}
                )
                return job

    def _run(self) -> J:
        job = self.job
        if job.is_finished:
            return job
        if job.cancel_requested:
            self._end(job.Status.REVOKED, "Cancelled before it started", running=(job.Status.PENDING, *job.RUNNING))
            return job
        if job.status in job.RUNNING:  # started before and never finished: its worker died
            job.crashes += 1
            if job.crashes >= settings.IMPORT_MAX_ATTEMPTS:
                # Running it again would only take the next worker down; fail it, so the queue moves on.
                self.fail(self.crashed.format(attempts=job.crashes), running=job.RUNNING)
                return job
        job.attempts += 1
        job.status, job.phase = self.start_status, self.start_phase
        job.started_at = job.started_at or timezone.now()
        self.save("attempts", "crashes", "status", "phase", "started_at", running=(job.Status.PENDING, *job.RUNNING))
        self.log.info("%s %s started (attempt %s)", self.noun, job.pk, job.attempts, extra={"job_id": job.pk})
        self.on_progress(job)
        try:
            phase = self.work()
        except JobLost:
            raise
        except SoftTimeLimitExceeded:
            limit = settings.CELERY_TASK_SOFT_TIME_LIMIT
            self.fail(f"it ran past its time limit of {limit:,} s; what was committed stays, and Retry resumes it")
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

    def save(self, *fields: str, running: tuple[str, ...] = BackgroundJob.RUNNING) -> None:
        """Save these fields of the job with its heartbeat, if the job is still in a `running`
        state: otherwise it is no longer this run's (JobLost). In the caller's transaction, if any."""
        if not self.persist:
            return
        job = self.job
        job.heartbeat_at = job.updated_at = timezone.now()
        values = {name: getattr(job, name) for name in (*fields, "heartbeat_at", "updated_at")}
        saved = type(job)._default_manager.filter(pk=job.pk, status__in=running)
        if not with_retries(lambda: saved.update(**values), what=f"saving {self.noun} {job.pk}"):
            raise JobLost

    def checkpoint(self, cancelled_phase: Callable[[], str]) -> None:
        """After a chunk has committed: report progress, then stop if someone asked it to or the
        task is past its soft time limit."""
        self.on_progress(self.job)
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise SoftTimeLimitExceeded
        if self.cancel_requested():
            raise JobCancelled(cancelled_phase())

    def cancel_requested(self) -> bool:
        """Has someone asked this job to stop? (One cheap query, made between chunks.)"""
        if self.should_stop():
            return True
        job = self.job
        asked = type(job)._default_manager.filter(pk=job.pk, cancel_requested=True)
        return self.persist and with_retries(asked.exists, what=f"reading {self.noun} {job.pk}")

    def fail(self, reason: str, *, running: tuple[str, ...] = BackgroundJob.RUNNING) -> None:
        """Record that the job failed and why; log it and emit the job type's failure event."""
        job = self.job
        if not self.persist:
            job.status, job.phase, job.error_message = job.Status.FAILURE, _failed_phase(job, reason), reason
            job.finished_at = timezone.now()
            self.log.warning("%s %s failed: %s", self.noun, job.pk, reason, extra={"job_id": job.pk})
        elif not background_job_fail(job=job, reason=reason, running=running, log=self.log):
            raise JobLost

    def _end(self, status: str, phase: str, *fields: str, running: tuple[str, ...] = BackgroundJob.RUNNING) -> None:
        job = self.job
        job.status, job.phase, job.finished_at = status, phase, timezone.now()
        self.save("status", "phase", "finished_at", *fields, running=running)


# --- Starting, cancelling, reading -----------------------------------------------------------


def job_owner(user: AbstractBaseUser | AnonymousUser | None) -> Any:
    """The user to record as having asked for a job: None for an anonymous one."""
    return user if user is not None and user.is_authenticated else None


# No time limits in a job's message: Celery would stamp the queueing process's settings into it,
# and they would override the worker's own CELERY_TASK_TIME_LIMIT and CELERY_TASK_SOFT_TIME_LIMIT.
_WORKER_TIME_LIMITS: dict[str, Any] = {"time_limit": None, "soft_time_limit": None}


def background_job_enqueue(*, job: BackgroundJob, task: Task) -> None:
    """Queue the job's task (argument: the job id; task id: the job's) once the transaction commits.

    If the broker cannot take it, the job fails at once with the reason, so it can be retried,
    instead of waiting as "Queued" for a message that was never sent.
    """

    def send() -> None:
        try:
            task.apply_async(args=(job.pk,), task_id=job.task_id, **_WORKER_TIME_LIMITS)
        except Exception as exc:  # kombu raises OperationalError and friends
            logger.error("could not queue %s %s: %s", job._meta.model_name, job.pk, exc, extra={"job_id": job.pk})
            job.error_message = f"the task queue is unreachable ({exc}); nothing was done, retry when it is back"
            job.status, job.phase = job.Status.FAILURE, f"{job.FAILED_PHASE}: the task queue is unreachable"
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
    for model in background_job_models():
        job = model._default_manager.filter(task_id=task_id).first()
        if job is not None:
            return job
    return None


def background_job_status(job: BackgroundJob, **context: Any) -> dict[str, Any]:
    """The job's status payload, as every status endpoint, admin page and task state shows it."""
    return dict(import_string(job.STATUS_SERIALIZER)(job, context=context).data)


# How long a job's task waits before trying again while another run holds the job, and how often.
BUSY_RETRY_SECONDS = 30
BUSY_RETRIES = 120


def background_job_task(task: Task, runner: type[JobRunner], job_id: int) -> dict[str, Any]:
    """The body of every job's Celery task: run (or resume) the job, with its status payload as the
    task's progress and result; a failed job fails the task, with the job's reason. While another
    run holds the job (one that housekeeping gave up on may still be winding down), it waits."""
    job = runner.model._default_manager.filter(pk=job_id).first()
    if job is None:
        return {"job_id": job_id, "status": "missing"}

    def progress(job: BackgroundJob) -> None:
        # On the run's own connection, which may have been cut while the writers worked: a
        # progress report must not fail an import that its chunks' retries carry through.
        meta = background_job_status(job, for_task=True)
        with_retries(lambda: task.update_state(state="PROGRESS", meta=meta), what=f"reporting {runner.noun} {job.pk}")

    soft_limit = (task.request.timelimit or (None, None))[1] or task.soft_time_limit  # as the worker applies it
    deadline = time.monotonic() + soft_limit if soft_limit else None
    run = runner(job, on_progress=progress, deadline=deadline)
    try:
        with soft_limit_at_checkpoints(run):
            job = run.run()
    except JobBusy as exc:
        raise task.retry(exc=exc, countdown=BUSY_RETRY_SECONDS, max_retries=BUSY_RETRIES) from None
    if job.status == job.Status.FAILURE:
        raise JobFailed(job.error_message)
    return background_job_status(job, for_task=True)


@contextlib.contextmanager
def soft_limit_at_checkpoints(run: JobRunner[Any]) -> Iterator[None]:
    """While `run` runs in a Celery pool process, the task's soft time limit stops it at its next
    checkpoint, once the chunk in flight has committed, instead of wherever it happens to be.

    At the soft limit the pool signals the process, whose handler raises SoftTimeLimitExceeded in
    the middle of whatever runs: inside the database driver, say in a COMMIT, it leaves the
    connection with a command still in progress and the transaction's outcome unknown, and
    Django's atomic block then raises a ProgrammingError in its place, so the job failed as an
    internal error. Here the signal only brings the run's deadline forward to now. A run stuck in
    one statement is still stopped by the hard limit, and housekeeping fails it as stale.
    """
    main = threading.current_thread() is threading.main_thread()
    if SIG_SOFT_TIMEOUT is None or not main or signal.getsignal(SIG_SOFT_TIMEOUT) is not soft_timeout_sighandler:
        yield  # not in a pool process: no signal is coming
        return

    def at_limit(signum: int, frame: object) -> None:
        run.deadline = time.monotonic()

    signal.signal(SIG_SOFT_TIMEOUT, at_limit)
    try:
        yield
    finally:
        signal.signal(SIG_SOFT_TIMEOUT, soft_timeout_sighandler)


def background_job_fail(
    *, job: BackgroundJob, reason: str, running: tuple[str, ...] = BackgroundJob.RUNNING, log: logging.Logger = logger
) -> bool:
    """Fail a job that is in a `running` state, saying why; log it and emit its type's failure
    event. False (and nothing done) when it is in another state by now."""
    now = timezone.now()
    values = {
        "status": job.Status.FAILURE,
        "phase": _failed_phase(job, reason),
        "error_message": reason,
        "finished_at": now,
        "heartbeat_at": now,
        "updated_at": now,
    }
    failing = type(job)._default_manager.filter(pk=job.pk, status__in=running)
    if not with_retries(lambda: failing.update(**values), what=f"failing {job._meta.model_name} {job.pk}"):
        return False
    for name, value in values.items():
        setattr(job, name, value)
    log.warning("%s %s failed: %s", job._meta.model_name, job.pk, reason, extra={"job_id": job.pk})
    if job.failed_event:
        from webhooks.events import event_emit

        event_emit(event=job.failed_event, data={"task_id": job.task_id, "error": reason})
    return True


def _failed_phase(job: BackgroundJob, reason: str) -> str:
    return fit(type(job), "phase", f"{job.FAILED_PHASE}: {reason}")


def background_jobs_fail_stale(*, now: datetime | None = None) -> int:
    """Fail running jobs that have not reported for JOB_STALE_AFTER seconds: their worker is gone
    (killed for good, or cut off from the database), so nothing would ever finish them. They can
    then be retried (an import resumes), and housekeeping removes them in time. Returns how many."""
    seconds = settings.JOB_STALE_AFTER
    cutoff = (now or timezone.now()) - timedelta(seconds=seconds)
    reason = f"its worker stopped reporting for {seconds // 60} minutes (it was stopped or lost the database)"
    failed = 0
    for model in background_job_models():
        last_heard = Coalesce("heartbeat_at", "started_at", "updated_at")
        stale = model._default_manager.filter(status__in=BackgroundJob.RUNNING).alias(heard=last_heard)
        for job in stale.filter(heard__lt=cutoff):
            failed += background_job_fail(job=job, reason=reason)
    return failed


def background_job_models() -> list[type[BackgroundJob]]:
    """Every kind of background job: each model that is a BackgroundJob."""
    from django.apps import apps

    return [m for m in apps.get_models() if issubclass(m, BackgroundJob)]
