from __future__ import annotations

from typing import Any

from celery import Task, shared_task

from fulfil.jobs import JobFailed, background_job_task
from products.services import ProductDeleteAll


@shared_task(
    bind=True,
    name="products.tasks.product_delete_all_task",
    acks_late=True,
    reject_on_worker_lost=True,
    throws=(JobFailed,),
)
def product_delete_all_task(self: Task, job_id: int) -> dict[str, Any]:
    """Delete every product in batches; progress goes to the job row and to this task's state."""
    return background_job_task(self, ProductDeleteAll, job_id)
