"""Looking at and steering Celery from the API: workers, test tasks, task state, revoking."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from celery.result import AsyncResult
from django_celery_results.models import TaskResult

from fulfil.celery import app, ping
from fulfil.jobs import BackgroundJob, background_job_cancel, background_job_for_task, background_job_status

logger = logging.getLogger(__name__)

PING_TIMEOUT = 1.0  # seconds every worker gets to answer; the list never takes much longer
INSPECT_TIMEOUT = 2.0


def celery_workers() -> list[dict]:
    """The workers that answer a ping, with their queues and active and reserved tasks.

    An empty list when none answer or the broker cannot broadcast; never waits long.
    """
    try:
        answers = app.control.inspect(timeout=PING_TIMEOUT).ping() or {}
        names = sorted(answers)
        if not names:
            return []
        inspect = app.control.inspect(destination=names, timeout=INSPECT_TIMEOUT, limit=len(names))
        queues = inspect.active_queues() or {}
        active = inspect.active() or {}
        reserved = inspect.reserved() or {}
    except Exception as exc:  # a broker without broadcast (the embedded one) or one that is down
        logger.warning("celery inspect failed: %s", exc)
        return []
    return [
        {
            "name": name,
            "queues": sorted(queue["name"] for queue in queues.get(name, [])),
            "active": [_task_summary(task) for task in active.get(name, [])],
            "reserved": [_task_summary(task) for task in reserved.get(name, [])],
        }
        for name in names
    ]


def _task_summary(task: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": task.get("id"), "name": task.get("name"), "args": task.get("args"), "started": task.get("time_start")}


def celery_test_task() -> str:
    """Queue a tiny task (`fulfil.ping`, answers "pong") and return its id."""
    return ping.apply_async().id


def celery_task_state(task_id: str) -> dict:
    """A task's state, progress meta, result or error, and dates, from the result backend."""
    result: AsyncResult[Any] = AsyncResult(task_id, app=app)
    stored = TaskResult.objects.filter(task_id=task_id).first()
    state = result.state
    body: dict = {
        "task_id": task_id,
        "state": state,
        "name": stored.task_name if stored else None,
        "progress": None,
        "result": None,
        "error": None,
    }
    if state == "PROGRESS":
        body["progress"] = result.info
    elif state == "SUCCESS":
        body["result"] = result.result
    elif state in ("FAILURE", "REVOKED"):
        body["error"] = str(result.result) if result.result else state.lower()
    created = stored.date_created if stored else None  # type: ignore[attr-defined]  # untyped package
    body["date_created"] = created.isoformat() if created else None
    body["date_done"] = stored.date_done.isoformat() if stored and stored.date_done else None
    job = background_job_for_task(task_id)
    body["job"] = _job_summary(job) if job else None
    return body


def celery_task_revoke(task_id: str) -> dict:
    """Revoke a task. An import or delete-all is asked to stop after its current chunk, so it ends
    cleanly as cancelled with what it committed; any other task is dropped if not yet started."""
    job = background_job_for_task(task_id)
    if job is not None and not job.is_finished:
        job = background_job_cancel(job=job)
    app.control.revoke(task_id)
    return {"task_id": task_id, "revoked": True, "job": _job_summary(job) if job else None}


def _job_summary(job: BackgroundJob) -> dict:
    """The job's type and id, and its status payload."""
    status = background_job_status(job, for_task=True)
    return {"type": job._meta.model_name, "id": job.pk, "cancel_requested": job.cancel_requested, **status}
