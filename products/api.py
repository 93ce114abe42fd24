from __future__ import annotations

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import filters, viewsets

from products import services
from products.filters import ProductFilter, StrictOrderingFilter
from products.selectors import product_list
from products.serializers import ProductSerializer

_CONFLICT = OpenApiResponse(description="A product with this SKU exists already (ignoring case).")


@extend_schema_view(
    create=extend_schema(responses={201: ProductSerializer, 409: _CONFLICT}),
    update=extend_schema(responses={200: ProductSerializer, 409: _CONFLICT}),
    partial_update=extend_schema(responses={200: ProductSerializer, 409: _CONFLICT}),
)
class ProductViewSet(viewsets.ModelViewSet):
    """The product catalogue. Writes go through products.services."""

    serializer_class = ProductSerializer
    filter_backends = (DjangoFilterBackend, filters.SearchFilter, StrictOrderingFilter)
    filterset_class = ProductFilter
    search_fields = ("sku", "name", "description")
    ordering_fields = ("sku", "name", "created_at", "updated_at")

    def get_queryset(self):
        return product_list()

    def perform_create(self, serializer):
        serializer.instance = services.product_create(**serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.product_update(product=serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance):
        services.product_delete(product=instance)
