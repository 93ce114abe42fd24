"""Reads of the catalogue."""

from __future__ import annotations

from django.db.models import QuerySet

from products.keys import sku_key
from products.models import Product


def product_get_by_sku(*, sku: str) -> Product | None:
    """The product whose SKU equals `sku` ignoring case, or None."""
    return Product.objects.filter(sku_key=sku_key(sku.strip())).first()


def product_list() -> QuerySet[Product]:
    return Product.objects.all()
