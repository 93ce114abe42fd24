"""Serializers every app shares: the status payload common to all background jobs."""

from __future__ import annotations

from rest_framework import serializers


class BackgroundJobStatusSerializer(serializers.ModelSerializer):
    """What every job's status says; each job type adds its own progress fields (see fulfil.jobs).

    Context: `for_task` (the payload stored as a Celery task's state: nothing that costs a query).
    """

    job_id = serializers.IntegerField(source="pk", read_only=True)
    percent = serializers.FloatField(read_only=True)

    class Meta:
        fields: tuple[str, ...] = (
            "job_id",
            "task_id",
            "status",
            "phase",
            "percent",
            "error_message",
            "started_at",
            "finished_at",
        )
        read_only_fields = fields


# --- Celery operations (fulfil.celery_ops): the shapes of their answers, for the schema ---------


class CeleryTaskSummarySerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField(allow_null=True)
    args = serializers.JSONField(allow_null=True)
    started = serializers.FloatField(allow_null=True, help_text="Unix time the worker started it.")


class CeleryWorkerSerializer(serializers.Serializer):
    name = serializers.CharField()
    queues = serializers.ListField(child=serializers.CharField())
    active = CeleryTaskSummarySerializer(many=True)
    reserved = CeleryTaskSummarySerializer(many=True)


class CeleryWorkersSerializer(serializers.Serializer):
    workers = CeleryWorkerSerializer(many=True)
    count = serializers.IntegerField()


class CeleryTestQueuedSerializer(serializers.Serializer):
    task_id = serializers.CharField()
    status = serializers.CharField()
    status_url = serializers.CharField()


class JobSummarySerializer(serializers.Serializer):
    """The job a task runs: its type and id, and its status payload (the job type's own fields too)."""

    type = serializers.CharField(help_text="importjob or productdeletion.")
    id = serializers.IntegerField()
    cancel_requested = serializers.BooleanField()
    job_id = serializers.IntegerField()
    task_id = serializers.CharField(allow_null=True)
    status = serializers.CharField()
    phase = serializers.CharField()
    percent = serializers.FloatField()
    error_message = serializers.CharField(allow_blank=True)
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class CeleryTaskStateSerializer(serializers.Serializer):
    task_id = serializers.CharField()
    state = serializers.CharField()
    name = serializers.CharField(allow_null=True)
    progress = serializers.JSONField(allow_null=True, help_text="While PROGRESS: the job's status payload.")
    result = serializers.JSONField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    date_created = serializers.DateTimeField(allow_null=True)
    date_done = serializers.DateTimeField(allow_null=True)
    job = JobSummarySerializer(allow_null=True)


class CeleryTaskRevokedSerializer(serializers.Serializer):
    task_id = serializers.CharField()
    revoked = serializers.BooleanField()
    job = JobSummarySerializer(allow_null=True)


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "degraded"])
    database = serializers.CharField()
    broker = serializers.CharField()
    version = serializers.CharField()
    outbox_pending = serializers.IntegerField(
        allow_null=True, help_text="Webhook events not yet handed to the broker (null: the database is down)."
    )
    outbox_oldest_age_seconds = serializers.FloatField(
        allow_null=True, help_text="Age of the oldest of them, in seconds (null: none)."
    )
