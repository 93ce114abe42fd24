from __future__ import annotations

from rest_framework import serializers

from products.models import Product


class ProductSerializer(serializers.ModelSerializer):
    """Validates shapes and lengths; uniqueness is the service's (a 409, not a 400)."""

    class Meta:
        model = Product
        fields = ("id", "sku", "name", "description", "active", "created_at", "updated_at")
        read_only_fields = ("id", "created_at", "updated_at")
        extra_kwargs = {"description": {"allow_null": True}}
