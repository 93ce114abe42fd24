from __future__ import annotations

import json

from django.conf import settings
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import BasePermission
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from imports import selectors, services
from imports.models import ImportJob
from imports.permissions import IMPORT_PERMISSIONS
from imports.serializers import ImportJobSerializer, status_url

# Multipart framing around the file: a request this much over the limit is refused unread.
_MULTIPART_OVERHEAD = 64 << 10


class CanImport(BasePermission):
    """Importing creates and changes products, so it needs those permissions as well."""

    perms = IMPORT_PERMISSIONS

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.has_perms(self.perms))


class CanViewImports(BasePermission):
    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.has_perm("imports.view_importjob"))


class UploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A CSV with columns sku and name, optionally description and active.")


class ProductUploadView(APIView):
    """POST /api/v1/products/upload: accept a CSV and import it in the background."""

    parser_classes = (MultiPartParser, FormParser)
    permission_classes = (CanImport,)

    @extend_schema(
        request={"multipart/form-data": UploadSerializer},
        responses={
            202: inline_serializer(
                "UploadAccepted",
                {
                    "task_id": serializers.CharField(),
                    "job_id": serializers.IntegerField(),
                    "status": serializers.CharField(),
                    "status_url": serializers.CharField(),
                    "filename": serializers.CharField(),
                },
            ),
            400: OpenApiResponse(description="No file, an empty or binary file, or missing sku/name columns."),
            413: OpenApiResponse(description="The file is larger than IMPORT_MAX_UPLOAD_BYTES."),
        },
    )
    def post(self, request):
        length = int(request.META.get("CONTENT_LENGTH") or 0)
        if length > settings.IMPORT_MAX_UPLOAD_BYTES + _MULTIPART_OVERHEAD:
            return _too_large()
        serializer = UploadSerializer(data=request.data)
        if getattr(request._request, "upload_too_large", False):
            return _too_large()
        serializer.is_valid(raise_exception=True)
        job = services.import_job_create(upload=serializer.validated_data["file"], user=request.user)
        return Response(
            {
                "task_id": job.task_id,
                "job_id": job.pk,
                "status": job.status,
                "status_url": status_url(job, request),
                "filename": job.original_name,
            },
            status=status.HTTP_202_ACCEPTED,
        )


def _too_large() -> Response:
    limit = settings.IMPORT_MAX_UPLOAD_BYTES
    return Response(
        {"detail": f"The file is larger than the limit of {limit:,} bytes.", "code": "file_too_large"},
        status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    )


class UploadStatusView(APIView):
    """GET /api/v1/products/upload/{task_id}/status: where an import is."""

    permission_classes = (CanViewImports,)

    @extend_schema(responses={200: OpenApiResponse(description="The import's progress and counts.")})
    def get(self, request, task_id: str):
        job = get_object_or_404(ImportJob, task_id=task_id)
        return Response(services.import_job_status(job))


class CSVRenderer(BaseRenderer):
    """Lets `Accept: text/csv` reach the error report, which streams its own CSV; anything else
    (an error) goes out as JSON text."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode()


class ImportJobViewSet(viewsets.ReadOnlyModelViewSet):
    """Import history, error reports, cancel and retry."""

    serializer_class = ImportJobSerializer
    queryset = ImportJob.objects.select_related("uploaded_by")

    @extend_schema(responses={(200, "text/csv"): OpenApiResponse(description="line, sku, column, reason")})
    @action(detail=True, methods=["get"], url_path=r"errors\.csv", url_name="errors",
            renderer_classes=[JSONRenderer, CSVRenderer])  # fmt: skip
    def errors_csv(self, request, pk=None):
        job = self.get_object()
        response = StreamingHttpResponse(selectors.import_error_report(job=job), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-errors.csv"'
        return response

    @extend_schema(request=None, responses={200: ImportJobSerializer, 409: OpenApiResponse(description="Finished.")})
    @action(detail=True, methods=["post"], permission_classes=[CanImport])
    def cancel(self, request, pk=None):
        job = services.import_job_cancel(job=self.get_object())
        return Response(self.get_serializer(job).data)

    @extend_schema(
        request=None, responses={202: ImportJobSerializer, 409: OpenApiResponse(description="Not retryable.")}
    )
    @action(detail=True, methods=["post"], permission_classes=[CanImport])
    def retry(self, request, pk=None):
        job = services.import_job_retry(job=self.get_object())
        return Response(self.get_serializer(job).data, status=status.HTTP_202_ACCEPTED)
