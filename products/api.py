from __future__ import annotations

from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from fulfil import permissions
from fulfil.api import CSVRenderer, csv_download
from fulfil.booleans import parse_bool
from fulfil.jobs import background_job_status
from products import services
from products.filters import BoundedSearchFilter, ProductFilter, ProductOrderingFilter
from products.models import ProductDeletion
from products.selectors import product_export, product_list
from products.serializers import ProductDeletionStatusSerializer, ProductSerializer

_CONFLICT = OpenApiResponse(description="A product with this SKU exists already (ignoring case).")
_ACCEPTED = inline_serializer(
    "DeleteAllAccepted",
    {
        "task_id": serializers.CharField(),
        "job_id": serializers.IntegerField(),
        "status": serializers.CharField(),
        "status_url": serializers.CharField(),
    },
)


@extend_schema_view(
    create=extend_schema(responses={201: ProductSerializer, 409: _CONFLICT}),
    update=extend_schema(responses={200: ProductSerializer, 409: _CONFLICT}),
    partial_update=extend_schema(responses={200: ProductSerializer, 409: _CONFLICT}),
)
class ProductViewSet(viewsets.ModelViewSet):
    """The product catalogue. Writes go through products.services."""

    serializer_class = ProductSerializer
    filter_backends = (DjangoFilterBackend, BoundedSearchFilter, ProductOrderingFilter)
    filterset_class = ProductFilter
    search_fields = ("sku", "name", "description")
    ordering_fields = ("sku", "name", "created_at", "updated_at")
    ordering = ("-created_at", "sku_key")  # the model's: offset and keyset pages list in one order
    action_permissions = {"delete_all": permissions.DELETE_PRODUCTS}

    def get_queryset(self):
        return product_list()

    def perform_create(self, serializer):
        serializer.instance = services.product_create(**serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.product_update(product=serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance):
        if not services.product_delete(product=instance):
            raise NotFound()  # another request deleted it a moment ago

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "excel_safe", OpenApiTypes.BOOL, description="Neutralise cells a spreadsheet would run as formulas."
            )
        ],
        responses={(200, "text/csv"): OpenApiResponse(description="sku,name,description,active")},
    )
    @action(detail=False, methods=["get"], renderer_classes=[JSONRenderer, CSVRenderer], pagination_class=None)
    def export(self, request: Request) -> StreamingHttpResponse:
        """The catalogue (or what the list filters select) as CSV, in the importer's own shape."""
        raw = request.query_params.get("excel_safe", "")
        excel_safe = parse_bool(raw, empty=False)
        if excel_safe is None:
            raise ValidationError({"excel_safe": [f"Must be true or false, got {raw!r}."]})
        products = self.filter_queryset(self.get_queryset())
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        return csv_download(product_export(products=products, excel_safe=excel_safe), f"products-{stamp}.csv")

    @extend_schema(request=None, responses={202: _ACCEPTED})
    @action(detail=False, methods=["delete"], url_path="all")
    def delete_all(self, request: Request) -> Response:
        """Delete every product in the background."""
        job = services.product_delete_all_start(user=request.user)
        url = request.build_absolute_uri(reverse("v1:delete-status", args=[job.task_id]))
        body = {"task_id": job.task_id, "job_id": job.pk, "status": job.status, "status_url": url}
        return Response(body, status=status.HTTP_202_ACCEPTED)


class ProductDeletionViewSet(viewsets.GenericViewSet):
    """`GET products/delete/{task_id}/status`: how far a delete-all has got."""

    queryset = ProductDeletion.objects.all()
    lookup_field = "task_id"
    lookup_value_regex = "[^/]+"
    action_permissions = {"status": permissions.DELETE_PRODUCTS}

    @extend_schema(responses={200: ProductDeletionStatusSerializer})
    @action(detail=True, methods=["get"])
    def status(self, request: Request, task_id: str | None = None) -> Response:
        return Response(background_job_status(self.get_object(), request=request))
