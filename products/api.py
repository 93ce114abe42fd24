from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.urls import reverse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view, inline_serializer
from rest_framework import filters, serializers, status, viewsets
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from products import services
from products.filters import ProductFilter, StrictOrderingFilter
from products.models import ProductDeletion
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


class CanDeleteProducts(BasePermission):
    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.has_perm("products.delete_product"))


_ACCEPTED = inline_serializer(
    "DeleteAllAccepted",
    {
        "task_id": serializers.CharField(),
        "job_id": serializers.IntegerField(),
        "status": serializers.CharField(),
        "status_url": serializers.CharField(),
    },  # fmt: skip
)


class ProductDeleteAllView(APIView):
    """DELETE /api/v1/products/all: delete every product in the background."""

    permission_classes = (CanDeleteProducts,)

    @extend_schema(responses={202: _ACCEPTED})
    def delete(self, request):
        job = services.product_delete_all_start(user=request.user)
        url = request.build_absolute_uri(reverse("v1:delete-status", args=[job.task_id]))
        return Response(
            {"task_id": job.task_id, "job_id": job.pk, "status": job.status, "status_url": url},
            status=status.HTTP_202_ACCEPTED,
        )


class ProductDeleteStatusView(APIView):
    """GET /api/v1/products/delete/{task_id}/status: how far a delete-all has got."""

    permission_classes = (CanDeleteProducts,)

    @extend_schema(responses={200: OpenApiResponse(description="status, phase, deleted, total, percent")})
    def get(self, request, task_id: str):
        return Response(services.product_deletion_status(get_object_or_404(ProductDeletion, task_id=task_id)))
