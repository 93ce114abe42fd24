"""Query filters of the product list, shared by the API."""

from __future__ import annotations

from datetime import timedelta

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField
from drf_spectacular.utils import extend_schema_field
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter, SearchFilter

from fulfil.filters import BooleanWordFilter
from products.keys import sku_key
from products.models import Product

# PostgreSQL stores UTC offsets up to 15:59 either way; RFC 3339 allows up to 23:59.
MAX_UTC_OFFSET = timedelta(hours=15, minutes=59)
# An ISO 8601 date-time whose UTC offset, if any, PostgreSQL can store.
DATE_TIME_PATTERN = r"^[^\x00]*?(?:[Zz]|[+-](?:0\d|1[0-5]):?[0-5]\d|T[\d:.,]+)$"
MAX_SEARCH_LENGTH = 200
MAX_SEARCH_WORDS = 10


class StoredOffsetDateTimeField(IsoDateTimeField):
    def to_python(self, value):
        parsed = super().to_python(value)
        offset = parsed.utcoffset() if parsed is not None else None
        if offset is not None and abs(offset) > MAX_UTC_OFFSET:
            raise forms.ValidationError("The UTC offset must be between -15:59 and +15:59.", code="offset")
        return parsed


@extend_schema_field({"type": "string", "format": "date-time", "pattern": DATE_TIME_PATTERN})
class DateTimeAfterFilter(django_filters.IsoDateTimeFilter):
    """`field >= an ISO 8601 date-time`; an offset PostgreSQL cannot store is a 400, not a 500."""

    field_class = StoredOffsetDateTimeField

    def __init__(self, field_name: str) -> None:
        super().__init__(field_name=field_name, lookup_expr="gte", help_text="ISO 8601 date-time.")


class ProductFilter(django_filters.FilterSet):
    sku = django_filters.CharFilter(lookup_expr="icontains", help_text="SKU contains (any case).")
    name = django_filters.CharFilter(lookup_expr="icontains", help_text="Name contains (any case).")
    description = django_filters.CharFilter(lookup_expr="icontains", help_text="Description contains (any case).")
    sku_exact = django_filters.CharFilter(method="filter_sku_exact", help_text="SKU equals (any case).")
    active = BooleanWordFilter(help_text="true or false.")
    created_after = DateTimeAfterFilter("created_at")
    updated_after = DateTimeAfterFilter("updated_at")

    class Meta:
        model = Product
        fields = ("sku", "name", "description", "sku_exact", "active", "created_after", "updated_after")

    def filter_sku_exact(self, queryset, name, value):
        return queryset.filter(sku_key=sku_key(value.strip()))


class StrictOrderingFilter(OrderingFilter):
    """OrderingFilter that answers 400 for an unknown field instead of silently ignoring it."""

    def remove_invalid_fields(self, queryset, fields, view, request):
        valid = super().remove_invalid_fields(queryset, fields, view, request)
        if len(valid) != len([f for f in fields if f.strip()]):
            allowed = sorted(name for name, _ in self.get_valid_fields(queryset, view, {"request": request}))
            raise ValidationError(
                {self.ordering_param: [f"Order by one of: {', '.join(allowed)} (prefix - for descending)."]}
            )
        return valid


class BoundedSearchFilter(SearchFilter):
    """SearchFilter with bounded input: at most MAX_SEARCH_LENGTH characters and MAX_SEARCH_WORDS
    words (each word is a condition on three columns), else a 400."""

    def get_search_terms(self, request):
        value = request.query_params.get(self.search_param, "")
        if len(value) > MAX_SEARCH_LENGTH:
            raise ValidationError({self.search_param: [f"At most {MAX_SEARCH_LENGTH} characters."]})
        terms = super().get_search_terms(request)
        if len(terms) > MAX_SEARCH_WORDS:
            raise ValidationError({self.search_param: [f"At most {MAX_SEARCH_WORDS} words."]})
        return terms

    def get_schema_operation_parameters(self, view):
        [parameter] = super().get_schema_operation_parameters(view)
        parameter["schema"] = {
            "type": "string",
            "maxLength": MAX_SEARCH_LENGTH,
            # At most MAX_SEARCH_WORDS words, split on spaces and commas; no NUL characters.
            "pattern": rf"^[\s,]*(?:[^\s,\x00]+[\s,]+){{0,{MAX_SEARCH_WORDS - 1}}}[^\s,\x00]*[\s,]*$",
        }
        parameter["description"] = (
            f"Words (at most {MAX_SEARCH_WORDS}) that must each appear in sku, name or description."
        )
        return [parameter]
