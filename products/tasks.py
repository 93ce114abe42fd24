from __future__ import annotations

from celery import shared_task

from products import services
from products.models import ProductDeletion


@shared_task(bind=True, name="products.tasks.product_delete_all_task", acks_late=True, reject_on_worker_lost=True)
def product_delete_all_task(self, job_id: int) -> dict:
    """Delete every product in batches; progress goes to the job row and to this task's state."""
    job = ProductDeletion.objects.filter(pk=job_id).first()
    if job is None:
        return {"job_id": job_id, "status": "missing"}

    def progress(job: ProductDeletion) -> None:
        self.update_state(state="PROGRESS", meta=services.product_deletion_status(job))

    job = services.product_delete_all_run(job=job, on_progress=progress)
    return services.product_deletion_status(job)
