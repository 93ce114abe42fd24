"""The import's writes to the catalogue: rows merged by SKU key, compared with what is stored,
and only what changes upserted, with `bulk_create(update_conflicts=True)` on the SKU key.

Every row is counted once as created, updated or unchanged. An unchanged row (its values, for
the columns the file has, equal the stored product's) is not written at all: no new row version,
no `updated_at` change, no index entries. `updated` keeps meaning "written".
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from fulfil.database import in_values
from products.keys import sku_key
from products.models import Product

UPSERTABLE = ("name", "description", "active")
# Rows a dry run remembers as the sample of what would change, per kind.
SAMPLE = 50

Values = tuple[str, str | None, bool | None]  # name, description, active; None: no such column


class ProductValues(Protocol):
    """One product's values as an import reads them; None means "the file has no such column"."""

    sku: str
    name: str
    description: str | None
    active: bool | None


@dataclass(slots=True)
class Entry:
    """One SKU key's rows in a batch, merged: the first spelling, the last values."""

    sku: str
    values: Values
    first: Values  # the first row's values, which the stored product is compared with
    repeats_changed: int = 0  # later rows whose values differ from the row before them
    repeats_same: int = 0


@dataclass(slots=True)
class ProductBatch:
    """A chunk's rows merged by SKU key, in key order (concurrent upserts then lock rows in the
    same order and cannot deadlock), ready to compare and upsert; built without the database."""

    entries: dict[str, Entry]
    columns: tuple[str, ...]  # the upsertable columns the file has
    stamp: datetime  # the created_at of products this batch creates; unique to the batch

    @property
    def keys(self) -> list[str]:
        return list(self.entries)

    @property
    def rows(self) -> int:
        return sum(1 + e.repeats_changed + e.repeats_same for e in self.entries.values())

    def split(self, keys: Collection[str]) -> tuple[ProductBatch, ProductBatch]:
        """The batch without the products of these SKU keys, and the batch of only those."""
        apart = {key: entry for key, entry in self.entries.items() if key not in keys}
        among = {key: entry for key, entry in self.entries.items() if key in keys}
        return ProductBatch(apart, self.columns, self.stamp), ProductBatch(among, self.columns, self.stamp)


@dataclass(slots=True)
class UpsertResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def __add__(self, other: UpsertResult) -> UpsertResult:
        created, updated, unchanged = (
            self.created + other.created,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
        )
        return UpsertResult(created, updated, unchanged)


def product_batch_build(*, rows: Sequence[ProductValues], columns: Collection[str], stamp: datetime) -> ProductBatch:
    """Merge rows by SKU key (any case), keeping the first spelling and the last values, since one
    INSERT ... ON CONFLICT may not touch a row twice. Touches no database (safe in any thread)."""
    entries: dict[str, Entry] = {}
    for row in rows:
        values = (row.name, row.description, row.active)
        key = sku_key(row.sku)
        entry = entries.get(key)
        if entry is None:
            entries[key] = Entry(row.sku, values, values)
        elif values == entry.values:
            entry.repeats_same += 1
        else:
            entry.repeats_changed += 1
            entry.values = values
    present = tuple(name for name in UPSERTABLE if name in columns)
    return ProductBatch({key: entries[key] for key in sorted(entries)}, present, stamp)


def product_batch_stored(*, batch: ProductBatch) -> dict[str, Values]:
    """What the catalogue holds for the batch's SKU keys, as import values (one query)."""
    found = Product.objects.filter(in_values("sku_key", batch.keys)).values_list(
        "sku_key", "name", "description", "active"
    )
    return {key: (name, description, active) for key, name, description, active in found}


def _differs(values: Values, stored: Values, columns: tuple[str, ...]) -> list[str]:
    """The file's columns in which `values` differ from the stored ones."""
    return [name for i, name in enumerate(UPSERTABLE) if name in columns and values[i] != stored[i]]


def product_batch_upsert(*, batch: ProductBatch, skip_unchanged: bool = True) -> UpsertResult:
    """Create the batch's new products and update the changed ones in one statement, leaving the
    unchanged ones alone (with `skip_unchanged`; otherwise every product is written, as a plain
    upsert does, and no row counts as unchanged).

    Created and updated are told apart by the database, not by the comparison (another import
    may create a product meanwhile): every new row gets `created_at = stamp`, an existing row
    keeps its own, and `bulk_create` returns `created_at` because it has a database default.
    """
    result = UpsertResult()
    if not batch.entries:
        return result
    stored = product_batch_stored(batch=batch) if skip_unchanged else {}
    columns = batch.columns
    to_write: list[Entry] = []
    for key, entry in batch.entries.items():
        result.updated += entry.repeats_changed
        if not skip_unchanged:
            result.updated += entry.repeats_same
            to_write.append(entry)
            continue
        result.unchanged += entry.repeats_same
        old = stored.get(key)
        if old is None or _differs(entry.values, old, columns):
            to_write.append(entry)
        elif _differs(entry.first, old, columns):
            result.updated += 1  # changed by its first row, changed back by a later one: nothing to write
        else:
            result.unchanged += 1
    products = [_product(entry, batch.stamp) for entry in to_write]
    if products:
        fields = [*columns, "updated_at"]
        Product.objects.bulk_create(products, update_conflicts=True, unique_fields=["sku_key"], update_fields=fields)
    for entry, product in zip(to_write, products, strict=True):
        old = stored.get(sku_key(entry.sku))
        if product.created_at == batch.stamp:
            result.created += 1
        elif old is not None and not _differs(entry.first, old, columns):
            result.unchanged += 1  # its first row matched what was stored; a later row changed it
        else:
            result.updated += 1
    return result


class BatchPreview:
    """Counts what product_batch_upsert would do, writing nothing (a dry run), and keeps a sample.

    A real import has written the earlier chunks when it compares a later one; a dry run has not,
    so it remembers the values it would have written for each SKU key (as a hash: about 150 bytes
    a product, the dry run's only growing memory) and compares later rows with those.
    """

    def __init__(self, *, skip_unchanged: bool = True) -> None:
        self.skip_unchanged = skip_unchanged  # as product_batch_upsert's: without it, unchanged rows count updated
        self.written: dict[str, int] = {}
        self.would_create: list[str] = []
        self.would_update: list[dict] = []

    def __call__(self, *, batch: ProductBatch) -> UpsertResult:
        result = UpsertResult()
        stored = product_batch_stored(batch=batch)
        columns = batch.columns
        for key, entry in batch.entries.items():
            result.updated += entry.repeats_changed
            result.unchanged += entry.repeats_same
            earlier = self.written.get(key)
            old = stored.get(key)
            if earlier is not None:  # written by an earlier chunk of this file
                first_same = hash(_relevant(entry.first, columns)) == earlier
                final_same = hash(_relevant(entry.values, columns)) == earlier
            elif old is None:
                result.created += 1
                self.written[key] = hash(_relevant(entry.values, columns))
                if len(self.would_create) < SAMPLE:
                    self.would_create.append(entry.sku)
                continue
            else:
                first_same = not _differs(entry.first, old, columns)
                final_same = not _differs(entry.values, old, columns)
                if not final_same and len(self.would_update) < SAMPLE:
                    changes = {name: [old[i], entry.values[i]] for i, name in enumerate(UPSERTABLE) if name in columns}
                    changed = _differs(entry.values, old, columns)
                    self.would_update.append({"sku": entry.sku, "changes": {k: changes[k] for k in changed}})
            if first_same:
                result.unchanged += 1
            else:
                result.updated += 1
            if not final_same:
                self.written[key] = hash(_relevant(entry.values, columns))
        if not self.skip_unchanged:  # every row is written
            result.updated, result.unchanged = result.updated + result.unchanged, 0
        return result


def _relevant(values: Values, columns: tuple[str, ...]) -> tuple[object, ...]:
    return tuple(value for i, value in enumerate(values) if UPSERTABLE[i] in columns)


def _product(entry: Entry, stamp: datetime) -> Product:
    name, description, active = entry.values
    return Product(
        sku=entry.sku,
        name=name,
        description="" if description is None else description,
        active=True if active is None else active,
        created_at=stamp,
        updated_at=stamp,
    )
