"""Writes to the catalogue. The API, the admin, the import and the tasks all come through here."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from fulfil.database import with_retries
from fulfil.errors import Conflict, NotFound
from fulfil.jobs import JobRunner, background_job_enqueue, job_owner
from products.models import Product, ProductDeletion
from products.selectors import product_get_by_sku
from webhooks import events as webhook_events

logger = logging.getLogger(__name__)

EDITABLE_FIELDS = ("sku", "name", "description", "active")


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    cleaned = dict(values)
    for field in ("sku", "name"):
        if isinstance(cleaned.get(field), str):
            cleaned[field] = cleaned[field].strip()
    if "description" in cleaned and cleaned["description"] is None:
        cleaned["description"] = ""
    unknown = set(cleaned) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), "This field cannot be set."))
    return cleaned


def _sku_conflict(sku: str) -> Conflict:
    existing = product_get_by_sku(sku=sku)
    return Conflict(
        f"A product with SKU {sku!r} already exists"
        + (f" as {existing.sku!r}" if existing and existing.sku != sku else "")
        + " (SKUs are unique ignoring case).",
        code="duplicate_sku",
        field="sku",
        existing_id=str(existing.pk) if existing else None,
    )


def _save(product: Product, *, update_fields: list[str] | None = None) -> None:
    # full_clean checks types and lengths; uniqueness is left to the database's constraint,
    # caught below, so two concurrent writers cannot both win.
    product.full_clean(exclude=["created_at", "updated_at"], validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            product.save(update_fields=update_fields)
    except IntegrityError as exc:
        if "product_sku_ci_unique" in str(exc) or "sku_key" in str(exc):
            raise _sku_conflict(product.sku) from None
        raise
    except DatabaseError as exc:
        if update_fields is not None and "did not affect any rows" in str(exc):
            raise NotFound("Not found: the product was deleted meanwhile.") from None
        raise


def product_create(*, sku: str, name: str, description: str = "", active: bool = True) -> Product:
    """Create a product; a SKU that exists already, ignoring case, is a Conflict."""
    values = _clean({"sku": sku, "name": name, "description": description, "active": active})
    # Both times from one clock and one moment: the database's default for created_at is its
    # transaction's start, which can be later than a time Python took before (or another clock).
    now = timezone.now()
    product = Product(**values, created_at=now, updated_at=now)
    _save(product)
    webhook_events.product_event_emit(event=webhook_events.PRODUCT_CREATED, products=[product])
    return product


def product_update(*, product: Product, **changes: Any) -> Product:
    """Change some of sku, name, description and active; only what changed is written."""
    changes = _clean(changes)
    changed = [field for field, value in changes.items() if getattr(product, field) != value]
    if not changed:
        return product
    for field in changed:
        setattr(product, field, changes[field])
    product.updated_at = timezone.now()
    _save(product, update_fields=[*changed, "updated_at"])
    if "sku" in changed:
        product.refresh_from_db(fields=["sku_key"])
    webhook_events.product_event_emit(event=webhook_events.PRODUCT_UPDATED, products=[product])
    return product


def product_delete(*, product: Product) -> bool:
    """Delete one product; False (and no event) when another request deleted it first."""
    with transaction.atomic():
        deleted, _ = Product.objects.filter(pk=product.pk).delete()
        if deleted:
            webhook_events.product_event_emit(event=webhook_events.PRODUCT_DELETED, products=[product])
    return bool(deleted)


def product_set_active(*, products: Iterable[Product], active: bool) -> int:
    """Activate or deactivate products; returns how many actually changed."""
    changed = [product for product in products if product.active != active]
    if not changed:
        return 0
    now = timezone.now()
    ids = [product.pk for product in changed]

    def update() -> int:
        with transaction.atomic():
            # Lock the rows in SKU-key order first, the order imports write them in, so this and
            # an import of the same products wait for each other; a deadlock PostgreSQL breaks
            # (an import chunk writes the SKUs it shares with the chunk before it last) is tried again.
            list(Product.objects.filter(pk__in=ids).order_by("sku_key").select_for_update().values_list("pk"))
            count = Product.objects.filter(pk__in=ids).update(active=active, updated_at=now)
            webhook_events.product_event_emit(event=webhook_events.PRODUCT_UPDATED, products=changed)
            return count

    for product in changed:
        product.active, product.updated_at = active, now
    return with_retries(update, what="setting products active")


# --- Delete all ---------------------------------------------------------------------------------


def product_delete_all_start(*, user: AbstractBaseUser | AnonymousUser | None = None) -> ProductDeletion:
    """Record a "delete all products" run and queue it once the transaction commits."""
    from products.tasks import product_delete_all_task

    job = ProductDeletion.objects.create(task_id=str(uuid.uuid4()), requested_by=job_owner(user))
    background_job_enqueue(job=job, task=product_delete_all_task)
    return job


class ProductDeleteAll(JobRunner[ProductDeletion]):
    """Delete every product in batches, each its own short transaction, so no lock is held long.

    Batches take rows with FOR UPDATE SKIP LOCKED, so two runs at once share the work instead of
    waiting on each other. Safe to run again after a crash: it deletes what is left. One
    `products.bulk_deleted` event at the end, never one per product.
    """

    noun = "delete-all"
    model = ProductDeletion
    start_status = ProductDeletion.Status.PROGRESS
    start_phase = "Deleting products"
    internal_error = "an internal error stopped it; the products deleted so far stay deleted"
    crashed = "the worker stopped {attempts} times while deleting products"
    lock_namespace = 7302

    def work(self) -> str:
        job = self.job
        if job.total is None:
            job.total = Product.objects.count()
            self.save("total")
        size = settings.PRODUCT_DELETE_BATCH_SIZE
        while True:
            with transaction.atomic():
                batch = Product.objects.order_by().select_for_update(skip_locked=True).values("pk")[:size]
                deleted, _ = Product.objects.filter(pk__in=batch).delete()
                job.deleted += deleted
                self.save("deleted")
            if not deleted:
                self.on_progress(job)
                return f"Deleted {job.deleted:,} products"
            self.checkpoint(lambda: f"Cancelled after deleting {job.deleted:,} products")

    def completed(self) -> None:
        job = self.job
        logger.info("delete-all %s deleted %s products", job.pk, job.deleted, extra={"job_id": job.pk})
        webhook_events.event_emit(
            event=webhook_events.PRODUCTS_BULK_DELETED, data={"task_id": job.task_id, "count": job.deleted}
        )


def product_delete_all_run(
    *, job: ProductDeletion, on_progress: Callable[[ProductDeletion], None] | None = None
) -> ProductDeletion:
    """Run (or resume) a delete-all in this process; see ProductDeleteAll."""
    return ProductDeleteAll(job, on_progress=on_progress).run()


def product_deletions_prune(*, now: datetime | None = None) -> int:
    """Delete finished delete-all records older than IMPORT_RETENTION_DAYS; returns how many."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.IMPORT_RETENTION_DAYS)
    old = ProductDeletion.objects.filter(status__in=ProductDeletion.FINISHED, created_at__lt=cutoff)
    return old.delete()[0]
