"""Writes to the catalogue. The API, the admin, the import and the tasks all come through here."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from fulfil.errors import Conflict
from products.models import Product
from products.selectors import product_get_by_sku

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


def product_create(*, sku: str, name: str, description: str = "", active: bool = True) -> Product:
    """Create a product; a SKU that exists already, ignoring case, is a Conflict."""
    values = _clean({"sku": sku, "name": name, "description": description, "active": active})
    product = Product(**values)
    _save(product)
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
    return product


def product_delete(*, product: Product) -> None:
    """Delete one product."""
    product.delete()


def product_set_active(*, products: Iterable[Product], active: bool) -> int:
    """Activate or deactivate products; returns how many actually changed."""
    ids = [product.pk for product in products if product.active != active]
    if not ids:
        return 0
    with transaction.atomic():
        return Product.objects.filter(pk__in=ids).update(active=active, updated_at=timezone.now())
