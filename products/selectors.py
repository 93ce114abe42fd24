"""Reads of the catalogue."""

from __future__ import annotations

from collections.abc import Collection

from django.db.models import QuerySet

from products.keys import sku_key
from products.models import Product


def product_get_by_sku(*, sku: str) -> Product | None:
    """The product whose SKU equals `sku` ignoring case, or None."""
    return Product.objects.filter(sku_key=sku_key(sku.strip())).first()


def product_list() -> QuerySet[Product]:
    return Product.objects.all()


def product_existing_keys(*, keys: Collection[str]) -> set[str]:
    """Which of these SKU keys (see products.keys) belong to an existing product."""
    if not keys:
        return set()
    return set(Product.objects.filter(sku_key__in=list(keys)).values_list("sku_key", flat=True))
