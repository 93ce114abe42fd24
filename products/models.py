from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Now
from django.utils import timezone

from fulfil.jobs import BackgroundJob
from products.keys import SkuKey


class Product(models.Model):
    """A catalogue entry. SKUs are unique ignoring case and stored as given.

    Uniqueness lives in `sku_key`, a stored generated column the database computes from `sku`
    (see products.keys for the folding rule). The database itself refuses `widget-1` beside
    `WIDGET-1`, whoever writes, and the key is a plain column with a unique constraint, so the
    import can upsert with `bulk_create(update_conflicts=True, unique_fields=["sku_key"])`
    (ON CONFLICT needs a column or constraint to arbitrate on, not an expression).

    `created_at` has a database default, so `bulk_create` returns it: the import tells a
    created row from an updated one by whether the returned value is the one it sent (see
    products.services.product_batch_upsert), with no extra query.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    sku = models.CharField("SKU", max_length=100)
    sku_key = models.GeneratedField(
        expression=SkuKey("sku"),
        output_field=models.CharField(max_length=100),
        db_persist=True,
        editable=False,
    )
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True, default="", db_default="")
    active = models.BooleanField(default=True, db_default=True)
    created_at = models.DateTimeField(db_default=Now(), editable=False)
    # No database default here: bulk_create returns every column that has one, and the import
    # needs only created_at back.
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        # Newest first; products of one import share a creation time, and among them the SKU
        # (its key, unique) decides, so every page is stable and reads A to Z.
        ordering = ("-created_at", "sku_key")
        constraints = [
            models.UniqueConstraint(
                fields=["sku_key"],
                name="product_sku_ci_unique",
                violation_error_message="A product with this SKU already exists (SKUs ignore case).",
            ),
        ]
        indexes = [
            models.Index(fields=["active", "-created_at"], name="product_active_created_idx"),
            models.Index(fields=["-created_at", "sku_key"], name="product_created_sku_idx"),
            models.Index(fields=["-updated_at"], name="product_updated_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.sku} — {self.name}"


class ProductDeletion(BackgroundJob):
    """One "delete all products" run: who asked, how many there were, how many are gone."""

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    total = models.PositiveIntegerField(null=True, blank=True, help_text="Products when it started.")
    deleted = models.PositiveIntegerField(default=0)

    STATUS_SERIALIZER = "products.serializers.ProductDeletionStatusSerializer"
    FAILED_PHASE = "Delete failed"

    class Meta:
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"Delete all #{self.pk} ({self.get_status_display()})"

    def progress(self) -> tuple[int, int | None]:
        return self.deleted, self.total
