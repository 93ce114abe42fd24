"""Serializers every app shares: the status payload common to all background jobs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import QueryDict
from rest_framework import serializers

from fulfil.jobs import BackgroundJob

# What a JSON value must be for a field of each kind (the first that matches decides); DRF itself
# would take "true" or 1 for a boolean, 7 for a string and "7" for a number.
_JSON_TYPES: tuple[tuple[type[serializers.Field], tuple[type, ...], str], ...] = (
    (serializers.BooleanField, (bool,), "true or false"),
    (serializers.IntegerField, (int,), "a whole number"),
    (serializers.FloatField, (int, float), "a number"),
    (serializers.ChoiceField, (str,), "a string"),
    (serializers.CharField, (str,), "a string"),
    (serializers.DateTimeField, (str,), "a date-time string"),
    (serializers.ListField, (list,), "a list"),
    (serializers.DictField, (dict,), "an object"),
)


def json_type_error(field: serializers.Field, value: Any) -> str | None:
    """Why `value` is not of the JSON type `field` takes (the items of a list or object included), or None."""
    if value is None:
        return None  # the field's own rules decide about null
    for kind, types, words in _JSON_TYPES:
        if isinstance(field, kind):
            if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
                return f"Must be {words}."
            break
    child = getattr(field, "child", None)
    if isinstance(field, serializers.ListField | serializers.DictField) and child is not None:
        items = value.values() if isinstance(value, dict) else value
        for item in items:
            error = json_type_error(child, item)
            if error:
                return f"Each item: {error[0].lower()}{error[1:]}"
    return None


class StrictJSONMixin:
    """Refuses a JSON value of the wrong type (a 400 naming the field) instead of converting it, so
    a JSON request is accepted exactly when it matches the schema's types. Form-encoded and
    multipart bodies, whose values are all text, are converted as Django's forms do."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping) and not isinstance(data, QueryDict):
            errors = {}
            for name, field in self.fields.items():  # type: ignore[attr-defined]
                error = None if field.read_only else json_type_error(field, data.get(name))
                if error:
                    errors[name] = [error]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)  # type: ignore[misc]


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
    outbox_pending = serializers.IntegerField(
        allow_null=True, help_text="Webhook events not yet handed to the broker (null: the database is down)."
    )
    outbox_oldest_age_seconds = serializers.FloatField(
        allow_null=True, help_text="Age of the oldest of them, in seconds (null: none)."
    )
