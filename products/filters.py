"""Query filters of the product list, shared by the API."""

from __future__ import annotations

import django_filters
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter

from fulfil.filters import BooleanWordFilter
from products.keys import sku_key
from products.models import Product


class ProductFilter(django_filters.FilterSet):
    sku = django_filters.CharFilter(lookup_expr="icontains", help_text="SKU contains (any case).")
    name = django_filters.CharFilter(lookup_expr="icontains", help_text="Name contains (any case).")
    description = django_filters.CharFilter(lookup_expr="icontains", help_text="Description contains (any case).")
    sku_exact = django_filters.CharFilter(method="filter_sku_exact", help_text="SKU equals (any case).")
    active = BooleanWordFilter(help_text="true or false.")
    created_after = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="ISO 8601 date-time."
    )
    updated_after = django_filters.IsoDateTimeFilter(
        field_name="updated_at", lookup_expr="gte", help_text="ISO 8601 date-time."
    )

    class Meta:
        model = Product
        fields = ("sku", "name", "description", "sku_exact", "active", "created_after", "updated_after")

    def filter_sku_exact(self, queryset, name, value):
        return queryset.filter(sku_key=sku_key(value.strip()))


class StrictOrderingFilter(OrderingFilter):
    """OrderingFilter that answers 400 for an unknown field instead of silently ignoring it, and
    breaks ties by SKU, as the default order (newest first, then SKU) does, so pages are stable."""

    def get_ordering(self, request, queryset, view):
        ordering = super().get_ordering(request, queryset, view)
        if ordering and not any(field.lstrip("-") in ("sku", "sku_key") for field in ordering):
            ordering = [*ordering, "sku_key"]
        return ordering

    def remove_invalid_fields(self, queryset, fields, view, request):
        valid = super().remove_invalid_fields(queryset, fields, view, request)
        if len(valid) != len([f for f in fields if f.strip()]):
            allowed = sorted(name for name, _ in self.get_valid_fields(queryset, view, {"request": request}))
            raise ValidationError(
                {self.ordering_param: [f"Order by one of: {', '.join(allowed)} (prefix - for descending)."]}
            )
        return valid
