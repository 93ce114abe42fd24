"""Serializers every app shares: the status payload common to all background jobs."""

from __future__ import annotations

from rest_framework import serializers

from fulfil.jobs import BackgroundJob


class BackgroundJobStatusSerializer(serializers.ModelSerializer):
    """What every job's status says; each job type adds its own progress fields (see fulfil.jobs).

    Context: `for_task` (the payload stored as a Celery task's state: nothing that costs a query).
    """

    job_id = serializers.IntegerField(source="pk", read_only=True)
    percent = serializers.FloatField(read_only=True)
    outcome = serializers.SerializerMethodField(
        help_text='How it went, or where it is, in a few words: "Completed", "Completed with 20 errors", '
        '"Failed: <reason>", "Cancelled", "Running 45%", "Queued", "Cancelling: ...".'
    )
    tone = serializers.SerializerMethodField(
        help_text="The outcome's tone: success, warning (completed with errors), error, neutral (cancelled), "
        "running, preview."
    )
    elapsed_seconds = serializers.FloatField(
        source="duration_seconds", read_only=True, allow_null=True, help_text="Since it started; null before."
    )
    seconds_left = serializers.FloatField(
        read_only=True, allow_null=True, help_text="While it runs: an estimate at the pace so far; null otherwise."
    )

    class Meta:
        fields: tuple[str, ...] = (
            "job_id",
            "task_id",
            "status",
            "phase",
            "percent",
            "outcome",
            "tone",
            "error_message",
            "cancel_requested",
            "started_at",
            "finished_at",
            "elapsed_seconds",
            "seconds_left",
        )
        read_only_fields = fields

    def get_outcome(self, job: BackgroundJob) -> str:
        return job.outcome[0]

    def get_tone(self, job: BackgroundJob) -> str:
        return job.outcome[1]


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
    outcome = serializers.CharField()
    tone = serializers.CharField()
    error_message = serializers.CharField(allow_blank=True)
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    elapsed_seconds = serializers.FloatField(allow_null=True)
    seconds_left = serializers.FloatField(allow_null=True)


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
