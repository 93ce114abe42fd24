"""Reads of the catalogue."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from itertools import chain

from django.db.models import F, Func, Q, QuerySet, TextField, Value
from django.db.models.functions import StrIndex, Upper
from django.db.models.lookups import GreaterThan, IContains

from fulfil.csvfiles import csv_pieces, safe_row
from products.keys import sku_key
from products.models import Product


def product_get_by_sku(*, sku: str) -> Product | None:
    """The product whose SKU equals `sku` ignoring case, or None."""
    return Product.objects.filter(sku_key=sku_key(sku.strip())).first()


def product_list() -> QuerySet[Product]:
    return Product.objects.all()


SEARCHED_FIELDS = ("sku", "name", "description")


class ProductText(Func):
    """A product's SKU, name and description, one per line: the text that search looks through.

    Inside `icontains` this compiles to exactly the expression of the trigram index
    product_text_trgm_idx (migration 0009), so the index finds the candidates of every search
    word and contains filter; change the two together. A word holds no line break, so none
    matches across two fields."""

    template = "(%(expressions)s)"
    arg_joiner = " || CHR(10) || "
    output_field = TextField()

    def __init__(self) -> None:
        super().__init__(*map(F, SEARCHED_FIELDS))

    def as_sqlite(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, arg_joiner=" || CHAR(10) || ", **extra_context)


def product_search(*, products: QuerySet[Product], terms: Iterable[str]) -> QuerySet[Product]:
    """The products in which each of `terms` appears, in any case, in the SKU, the name or the
    description."""
    for term in terms:
        products = products.filter(IContains(ProductText(), term))
        if "\n" in term:  # a quoted phrase over a line break could span two fields of ProductText
            products = products.filter(Q.create([(f"{field}__icontains", term) for field in SEARCHED_FIELDS], "OR"))
    return products


def product_field_contains(*, products: QuerySet[Product], field: str, text: str) -> QuerySet[Product]:
    """The products whose `field` (one of SEARCHED_FIELDS) contains `text`, in any case: found
    through the index of ProductText, then checked on the field.

    The check is a position (STRPOS) rather than a second LIKE, which matches the same rows: the
    planner would take a second LIKE for a condition as selective as the first and expect a
    handful of rows, so the list's estimated count would say "about 1" of thousands."""
    found: GreaterThan = GreaterThan(StrIndex(Upper(field), Upper(Value(text))), 0)
    return products.filter(IContains(ProductText(), text), found)


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
