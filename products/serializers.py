from __future__ import annotations

from rest_framework import serializers

from fulfil.serializers import BackgroundJobStatusSerializer, StrictJSONMixin
from products.models import Product, ProductDeletion


class ProductSerializer(StrictJSONMixin, serializers.ModelSerializer):
    """Validates shapes and lengths; uniqueness is the service's (a 409, not a 400)."""

    class Meta:
        model = Product
        fields = ("id", "sku", "name", "description", "active", "created_at", "updated_at")
        read_only_fields = ("id", "created_at", "updated_at")
        extra_kwargs = {"description": {"allow_null": True}}


class ProductDeletionStatusSerializer(BackgroundJobStatusSerializer):
    """A delete-all's status payload: the status endpoint, the admin's progress page, the task's state."""

    deleted = serializers.IntegerField(read_only=True)
    total = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta(BackgroundJobStatusSerializer.Meta):
        model = ProductDeletion
        fields = (*BackgroundJobStatusSerializer.Meta.fields, "deleted", "total")
        read_only_fields = fields
