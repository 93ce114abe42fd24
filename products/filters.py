"""Query filters of the product list, shared by the API."""

from __future__ import annotations

import re
from datetime import timedelta

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField
from drf_spectacular.utils import extend_schema_field
from rest_framework.exceptions import ValidationError
from rest_framework.filters import SearchFilter

from fulfil.filters import BooleanWordFilter, StrictOrderingFilter, TextFilter
from products.keys import sku_key
from products.models import Product
from products.selectors import product_field_contains, product_search

# PostgreSQL stores UTC offsets up to 15:59 either way; RFC 3339 allows up to 23:59.
MAX_UTC_OFFSET = timedelta(hours=15, minutes=59)
# RFC 3339 (the schema's date-time), with an offset PostgreSQL can store.
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})")
OFFSET_PATTERN = r"^.*([Zz]|[+-](0\d|1[0-5]):[0-5]\d)$"
MAX_SEARCH_LENGTH = 200
MAX_SEARCH_WORDS = 10
SEPARATORS = "\t\n\v\f\r ,"  # between search words (the schema's pattern counts them the same way)
SEARCH_WORD = re.compile(f"[^{SEPARATORS}]+")


class StoredOffsetDateTimeField(IsoDateTimeField):
    """An RFC 3339 date-time (with its UTC offset, as the schema's date-time format says), whose
    offset PostgreSQL can store: anything else is a 400, not a 500."""

    def to_python(self, value):
        if value is not None and not RFC3339.fullmatch(str(value).strip()):
            raise forms.ValidationError(
                "Give an RFC 3339 date-time with its UTC offset, e.g. 2026-01-31T14:00:00Z.", code="invalid"
            )
        parsed = super().to_python(value)
        offset = parsed.utcoffset() if parsed is not None else None
        if offset is not None and abs(offset) > MAX_UTC_OFFSET:
            raise forms.ValidationError("The UTC offset must be between -15:59 and +15:59.", code="offset")
        return parsed


@extend_schema_field({"type": "string", "format": "date-time", "pattern": OFFSET_PATTERN})
class DateTimeAfterFilter(django_filters.IsoDateTimeFilter):
    """`field >= an RFC 3339 date-time`."""

    field_class = StoredOffsetDateTimeField

    def __init__(self, field_name: str) -> None:
        super().__init__(
            field_name=field_name, lookup_expr="gte", help_text="RFC 3339 date-time, e.g. 2026-01-31T14:00:00Z."
        )


class ProductFilter(django_filters.FilterSet):
    sku = TextFilter(method="filter_contains", help_text="SKU contains (any case).")
    name = TextFilter(method="filter_contains", help_text="Name contains (any case).")
    description = TextFilter(method="filter_contains", help_text="Description contains (any case).")
    sku_exact = TextFilter(method="filter_sku_exact", help_text="SKU equals (any case).")
    active = BooleanWordFilter(help_text="true or false.")
    created_after = DateTimeAfterFilter("created_at")
    updated_after = DateTimeAfterFilter("updated_at")

    class Meta:
        model = Product
        fields = ("sku", "name", "description", "sku_exact", "active", "created_after", "updated_after")

    def filter_contains(self, queryset, name, value):
        return product_field_contains(products=queryset, field=name, text=value)

    def filter_sku_exact(self, queryset, name, value):
        return queryset.filter(sku_key=sku_key(value.strip()))


class ProductOrderingFilter(StrictOrderingFilter):
    """The products' `ordering`, with ties broken by SKU, as the default order (newest first, then
    SKU) does, so pages are stable."""

    def get_ordering(self, request, queryset, view):
        ordering = super().get_ordering(request, queryset, view)
        if ordering and not any(field.lstrip("-") in ("sku", "sku_key") for field in ordering):
            ordering = [*ordering, "sku_key"]
        return ordering


class BoundedSearchFilter(SearchFilter):
    """The products' `search` (products.selectors.product_search), with bounded input: at most
    MAX_SEARCH_LENGTH characters and MAX_SEARCH_WORDS words (each word is a condition), else a 400."""

    def filter_queryset(self, request, queryset, view):
        return product_search(products=queryset, terms=self.get_search_terms(request))

    def get_search_terms(self, request):
        value = request.query_params.get(self.search_param, "")
        if len(value) > MAX_SEARCH_LENGTH:
            raise ValidationError({self.search_param: [f"At most {MAX_SEARCH_LENGTH} characters."]})
        if "\x00" in value:
            raise ValidationError({self.search_param: ["Null characters are not allowed."]})
        if len(SEARCH_WORD.findall(value)) > MAX_SEARCH_WORDS:
            raise ValidationError({self.search_param: [f"At most {MAX_SEARCH_WORDS} words."]})
        return super().get_search_terms(request)

    def get_schema_operation_parameters(self, view):
        [parameter] = super().get_schema_operation_parameters(view)
        parameter["schema"] = {
            "type": "string",
            "maxLength": MAX_SEARCH_LENGTH,
            # At most MAX_SEARCH_WORDS words between SEPARATORS; no NUL characters.
            "pattern": f"^[{SEPARATORS}]*(?:[^{SEPARATORS}\\x00]+(?:[{SEPARATORS}]+|$)){{0,{MAX_SEARCH_WORDS}}}$",
        }
        parameter["description"] = (
            f"Words (at most {MAX_SEARCH_WORDS}) that must each appear in sku, name or description."
        )
        return [parameter]
