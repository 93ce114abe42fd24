from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request

from fulfil.serializers import BackgroundJobStatusSerializer
from imports.models import ImportJob, ImportRowError
from imports.selectors import import_errors_stored
from products.batches import SAMPLE

# Rejected rows shown in a status payload; the error report (errors.csv) has them all.
STATUS_ROW_ERRORS = 20


def _absolute(url: str, request: HttpRequest | Request | None) -> str:
    """The URL with scheme and host when there is a request to take them from (a task has none)."""
    return request.build_absolute_uri(url) if request is not None else url


def status_url(job: ImportJob, request: Request | None = None) -> str:
    return _absolute(reverse("v1:upload-status", args=[job.task_id]), request)


class ImportRowErrorSerializer(serializers.ModelSerializer):
    class Meta:
        model = ImportRowError
        fields = ("line", "row", "sku", "column", "reason")
        read_only_fields = fields


class PreviewUpdateSerializer(serializers.Serializer):
    sku = serializers.CharField()
    changes = serializers.DictField(
        child=serializers.ListField(child=serializers.JSONField(), min_length=2, max_length=2),
        help_text="{field: [stored value, the file's value]} for the fields that differ.",
    )


class PreviewChangesSerializer(serializers.Serializer):
    created = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="SKUs that would be created."
    )
    updated = PreviewUpdateSerializer(many=True, required=False)


class ImportJobStatusSerializer(BackgroundJobStatusSerializer):
    """An import's status payload: the status endpoint, the admin's progress page, the task's state."""

    filename = serializers.CharField(source="original_name", read_only=True)
    current = serializers.IntegerField(source="processed_rows", read_only=True)
    total = serializers.IntegerField(source="total_rows", read_only=True, allow_null=True)
    created = serializers.IntegerField(source="created_count", read_only=True)
    updated = serializers.IntegerField(source="updated_count", read_only=True, help_text="Rows written (changed).")
    unchanged = serializers.IntegerField(
        source="unchanged_count", read_only=True, help_text="Rows equal to the stored product: not written."
    )
    # The API's name since its first version. DRF's metaclass takes declared fields off the class,
    # so Serializer.errors itself is untouched.
    errors = serializers.IntegerField(source="error_count", read_only=True)  # type: ignore[assignment]
    rows_per_second = serializers.FloatField(read_only=True, allow_null=True)
    warnings = serializers.ListField(child=serializers.CharField(), read_only=True)
    errors_stored = serializers.SerializerMethodField(
        help_text="Rejected rows stored and listed in the error report: all of them, or the first "
        "IMPORT_MAX_STORED_ERRORS when there are more (the rest are counted in `errors`)."
    )
    row_errors = serializers.SerializerMethodField(help_text=f"The first {STATUS_ROW_ERRORS} rejected rows.")
    dry_run = serializers.BooleanField(read_only=True, help_text="A preview: counts what the import would do.")
    changes = PreviewChangesSerializer(
        read_only=True, help_text=f"A finished preview's sample: the first {SAMPLE} rows that would create or update."
    )
    error_report_url = serializers.SerializerMethodField(help_text="Every rejected row as CSV; null without errors.")

    class Meta(BackgroundJobStatusSerializer.Meta):
        model = ImportJob
        fields = (
            *BackgroundJobStatusSerializer.Meta.fields,
            "filename",
            "current",
            "total",
            "created",
            "updated",
            "unchanged",
            "errors",
            "errors_stored",
            "rows_per_second",
            "warnings",
            "row_errors",
            "error_report_url",
            "dry_run",
            "changes",
        )
        read_only_fields = fields

    def get_errors_stored(self, job: ImportJob) -> int:
        return import_errors_stored(job=job)

    @extend_schema_field(ImportRowErrorSerializer(many=True))
    def get_row_errors(self, job: ImportJob) -> Any:
        if not job.pk or not job.error_count or self.context.get("for_task"):
            return []
        return ImportRowErrorSerializer(job.row_errors.all()[:STATUS_ROW_ERRORS], many=True).data

    def get_error_report_url(self, job: ImportJob) -> str | None:
        if not job.pk or not job.error_count:
            return None
        return _absolute(reverse("v1:import-errors", args=[job.pk]), self.context.get("request"))


class ImportJobSerializer(ImportJobStatusSerializer):
    """The import resource (history): the status payload, less the rejected rows, plus the record."""

    uploaded_by = serializers.CharField(source="uploaded_by.username", default=None, read_only=True)
    confirms: serializers.PrimaryKeyRelatedField[ImportJob] = serializers.PrimaryKeyRelatedField(
        read_only=True, help_text="The preview this import confirms."
    )
    status_url = serializers.SerializerMethodField()
    errors_url = serializers.SerializerMethodField()

    class Meta(ImportJobStatusSerializer.Meta):
        fields = (
            "id",
            *(name for name in ImportJobStatusSerializer.Meta.fields if name != "row_errors"),
            "source",
            "size_bytes",
            "uploaded_by",
            "total_rows",
            "processed_rows",
            "encoding",
            "delimiter",
            "columns",
            "confirms",
            "created_at",
            "status_url",
            "errors_url",
        )
        read_only_fields = fields

    def get_status_url(self, job: ImportJob) -> str | None:
        return status_url(job, self.context.get("request")) if job.task_id else None

    def get_errors_url(self, job: ImportJob) -> str:
        return _absolute(reverse("v1:import-errors", args=[job.pk]), self.context.get("request"))
