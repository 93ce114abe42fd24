"""Reads of the catalogue."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from itertools import chain

from django.db.models import QuerySet

from fulfil.csvfiles import csv_pieces, safe_row
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


EXPORT_HEADER = ("sku", "name", "description", "active")


def product_export(*, products: QuerySet[Product], excel_safe: bool = False) -> Iterator[str]:
    """The products as CSV in the importer's own shape and dialect (header sku,name,description,
    active; comma; UTF-8), streamed from a server-side cursor a piece at a time, so memory stays
    flat whatever the catalogue. Importing the file again changes nothing. `excel_safe`
    neutralises cells a spreadsheet would take for a formula (the file then no longer round-trips)."""
    rows: Iterable[Sequence[object]] = (
        (sku, name, description, "true" if active else "false")
        for sku, name, description, active in products.values_list(*EXPORT_HEADER).iterator(chunk_size=5000)
    )
    if excel_safe:
        rows = (safe_row(row) for row in rows)
    return csv_pieces(chain([EXPORT_HEADER], rows))
