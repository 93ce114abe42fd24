from __future__ import annotations

from rest_framework import serializers
from rest_framework.fields import empty

from fulfil.serializers import BackgroundJobStatusSerializer, StrictJSONMixin
from products.models import Product, ProductDeletion


class MissingIsUnsetBooleanField(serializers.BooleanField):
    """A boolean that is simply not given when it is missing, in every encoding. DRF's own reads
    a missing form-encoded or multipart value as false (an unticked checkbox), so a form post
    without `active` made an inactive product where JSON made an active one."""

    default_empty_html = empty


class ProductSerializer(StrictJSONMixin, serializers.ModelSerializer):
    """Validates shapes and lengths; uniqueness is the service's (a 409, not a 400)."""

    active = MissingIsUnsetBooleanField(
        required=False, help_text="Default true on create; left as it is when missing on update."
    )

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
