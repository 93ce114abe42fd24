from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from fulfil import permissions
from fulfil.api import CSVRenderer, csv_download
from fulfil.jobs import background_job_status
from imports import selectors, services
from imports.models import ImportJob
from imports.serializers import ImportJobSerializer, ImportJobStatusSerializer, status_url

# Multipart framing around the file: a request this much over the limit is refused unread.
_MULTIPART_OVERHEAD = 64 << 10

_ACCEPTED = inline_serializer(
    "UploadAccepted",
    {
        "task_id": serializers.CharField(),
        "job_id": serializers.IntegerField(),
        "status": serializers.CharField(),
        "status_url": serializers.CharField(),
        "filename": serializers.CharField(),
    },
)


class UploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A CSV with columns sku and name, optionally description and active.")
    dry_run = serializers.BooleanField(
        default=False,
        help_text="A preview: count what the import would do and sample the changes, writing no product; "
        "POST /api/v1/imports/{id}/confirm then imports the same file.",
    )


class RetrySerializer(serializers.Serializer):
    start_over = serializers.BooleanField(
        default=False,
        help_text="Forget what earlier runs committed and import from the first row (the default resumes; "
        "a file that changed since is imported from the first row either way).",
    )


class UploadViewSet(viewsets.GenericViewSet):
    """`POST products/upload` accepts a CSV to import in the background; `GET
    products/upload/{task_id}/status` says where it is."""

    queryset = ImportJob.objects.all()
    serializer_class = UploadSerializer
    parser_classes = (MultiPartParser, FormParser)
    lookup_field = "task_id"
    lookup_value_regex = "[^/]+"
    action_permissions = {"create": permissions.IMPORT, "status": permissions.VIEW_IMPORTS}

    @extend_schema(
        request={"multipart/form-data": UploadSerializer},
        responses={
            202: _ACCEPTED,
            400: OpenApiResponse(description="No file, an empty or binary file, or missing sku/name columns."),
            413: OpenApiResponse(description="The file is larger than IMPORT_MAX_UPLOAD_BYTES."),
        },
    )
    def create(self, request: Request) -> Response:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
        if length > settings.IMPORT_MAX_UPLOAD_BYTES + _MULTIPART_OVERHEAD:
            return _too_large()
        serializer = UploadSerializer(data=request.data)
        if getattr(request._request, "upload_too_large", False):
            return _too_large()
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        job = services.import_job_create(upload=data["file"], user=request.user, dry_run=data["dry_run"])
        return Response(_accepted(job, request), status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={200: ImportJobStatusSerializer})
    @action(detail=True, methods=["get"])
    def status(self, request: Request, task_id: str | None = None) -> Response:
        return Response(background_job_status(self.get_object(), request=request))


def _accepted(job: ImportJob, request: Request) -> dict[str, Any]:
    """The answer to a request that queued an import."""
    return {
        "task_id": job.task_id,
        "job_id": job.pk,
        "status": job.status,
        "status_url": status_url(job, request),
        "filename": job.original_name,
    }


def _too_large() -> Response:
    limit = settings.IMPORT_MAX_UPLOAD_BYTES
    return Response(
        {"detail": f"The file is larger than the limit of {limit:,} bytes.", "code": "file_too_large"},
        status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    )


class ImportJobViewSet(viewsets.ReadOnlyModelViewSet):
    """Import history, error reports, cancel and retry."""

    serializer_class = ImportJobSerializer
    queryset = ImportJob.objects.select_related("uploaded_by")
    action_permissions = {"cancel": permissions.IMPORT, "retry": permissions.IMPORT, "confirm": permissions.IMPORT}

    @extend_schema(responses={(200, "text/csv"): OpenApiResponse(description="line, row, sku, column, reason")})
    @action(
        detail=True,
        methods=["get"],
        url_path=r"errors\.csv",
        url_name="errors",
        renderer_classes=[JSONRenderer, CSVRenderer],
    )
    def errors_csv(self, request: Request, pk: str | None = None) -> StreamingHttpResponse:
        job = self.get_object()
        return csv_download(selectors.import_error_report(job=job), f"import-{job.pk}-errors.csv")

    @extend_schema(
        responses={
            (200, "text/csv"): OpenApiResponse(description="The file's header and rejected rows, + error,line,row")
        }
    )
    @action(
        detail=True,
        methods=["get"],
        url_path=r"rejected\.csv",
        url_name="rejected",
        renderer_classes=[JSONRenderer, CSVRenderer],
    )
    def rejected_csv(self, request: Request, pk: str | None = None) -> StreamingHttpResponse:
        """The rejected rows as the file had them, with error, line and row: fix them and upload
        this file as it is (the importer ignores the three extra columns)."""
        job = self.get_object()
        return csv_download(selectors.import_rejected_rows(job=job), f"import-{job.pk}-rejected.csv")

    @extend_schema(request=None, responses={200: ImportJobSerializer, 409: OpenApiResponse(description="Finished.")})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        job = services.import_job_cancel(job=self.get_object())
        return Response(self.get_serializer(job).data)

    @extend_schema(
        request=RetrySerializer,
        responses={202: ImportJobSerializer, 409: OpenApiResponse(description="Not retryable.")},
    )
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str | None = None) -> Response:
        """Run a failed or cancelled import again: from where it stopped, or from its first row."""
        options = RetrySerializer(data=request.data)
        options.is_valid(raise_exception=True)
        job = services.import_job_retry(job=self.get_object(), start_over=options.validated_data["start_over"])
        return Response(self.get_serializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        request=None,
        responses={
            202: _ACCEPTED,
            409: OpenApiResponse(description="Not a finished preview, or confirmed already."),
        },
    )
    @action(detail=True, methods=["post"])
    def confirm(self, request: Request, pk: str | None = None) -> Response:
        """Import the file of a finished preview (a dry run), without uploading it again."""
        job = services.import_job_confirm(preview=self.get_object(), user=request.user)
        return Response(_accepted(job, request), status=status.HTTP_202_ACCEPTED)
