from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from imports.models import ImportJob


def status_url(job: ImportJob, request=None) -> str:
    url = reverse("v1:upload-status", args=[job.task_id])
    return request.build_absolute_uri(url) if request is not None else url


class ImportJobSerializer(serializers.ModelSerializer):
    filename = serializers.CharField(source="original_name")
    uploaded_by = serializers.CharField(source="uploaded_by.username", default=None)
    created = serializers.IntegerField(source="created_count")
    updated = serializers.IntegerField(source="updated_count")
    errors = serializers.IntegerField(source="error_count")
    percent = serializers.FloatField()
    rows_per_second = serializers.FloatField(allow_null=True)
    status_url = serializers.SerializerMethodField()
    errors_url = serializers.SerializerMethodField()

    class Meta:
        model = ImportJob
        fields = (
            "id", "task_id", "status", "phase", "filename", "source", "size_bytes", "uploaded_by",
            "total_rows", "processed_rows", "created", "updated", "errors", "percent", "rows_per_second",
            "encoding", "delimiter", "columns", "warnings", "error_message", "cancel_requested",
            "created_at", "started_at", "finished_at", "status_url", "errors_url",
        )  # fmt: skip
        read_only_fields = fields

    def get_status_url(self, job: ImportJob) -> str | None:
        return status_url(job, self.context.get("request")) if job.task_id else None

    def get_errors_url(self, job: ImportJob) -> str:
        url = reverse("v1:import-errors", args=[job.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request is not None else url
