from __future__ import annotations

import uuid

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from webhooks.headers import validate_headers
from webhooks.validators import validate_events, validate_secret, validate_webhook_url

MAX_RETRY_COUNT = 10
MAX_TIMEOUT_SECONDS = 30


class Webhook(models.Model):
    """A receiver URL and the events it is sent. Counters count attempts; tests are not counted."""

    url = models.URLField("URL", max_length=500, validators=[validate_webhook_url])
    events = models.JSONField(default=list, validators=[validate_events], help_text="Event names sent to this URL.")
    is_active = models.BooleanField("enabled", default=True)
    secret = models.CharField(
        max_length=255,
        blank=True,
        validators=[validate_secret],
        help_text="Signs every request. A whsec_ secret is base64-decoded for the Standard Webhooks signature.",
    )
    description = models.TextField(blank=True)
    headers = models.JSONField(
        default=dict, blank=True, validators=[validate_headers], help_text="Extra HTTP headers sent with every request."
    )
    retry_count = models.PositiveSmallIntegerField(
        default=3,
        validators=[MaxValueValidator(MAX_RETRY_COUNT)],
        help_text="Retries after a failed first attempt (timeouts, connection errors, 429 and 5xx).",
    )
    timeout_seconds = models.PositiveSmallIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(MAX_TIMEOUT_SECONDS)]
    )
    last_triggered_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, editable=False)
    success_count = models.PositiveBigIntegerField(default=0, editable=False)
    failure_count = models.PositiveBigIntegerField(default=0, editable=False)
    # Failed deliveries (an event whose every attempt failed) since the last success, for the admin.
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    # When the run of failed attempts began (empty after a success); past WEBHOOK_DISABLE_AFTER the
    # webhook is disabled (see delivery.webhook_disable_reason).
    failing_since = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(timeout_seconds__gte=1, timeout_seconds__lte=MAX_TIMEOUT_SECONDS),
                name="webhook_timeout_seconds_range",
            ),
            models.CheckConstraint(
                condition=models.Q(retry_count__lte=MAX_RETRY_COUNT), name="webhook_retry_count_range"
            ),
        ]

    def __str__(self) -> str:
        return self.description.strip().splitlines()[0][:80] if self.description.strip() else self.url

    @property
    def success_rate(self) -> float | None:
        """Share of successful attempts, or None before the first one."""
        total = self.success_count + self.failure_count
        return self.success_count / total if total else None


class WebhookDelivery(models.Model):
    """One attempt to deliver one event to one webhook. Every attempt of an event shares delivery_id."""

    class Trigger(models.TextChoices):
        EVENT = "event", "event"
        RETRY = "retry", "retry"
        TEST = "test", "test"
        REDELIVERY = "redelivery", "redelivery"
        RECOVERY = "recovery", "recovery"

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=100)
    delivery_id = models.UUIDField(default=uuid.uuid4, help_text="Sent as webhook-id; the same on every retry.")
    attempt = models.PositiveSmallIntegerField(default=1)
    trigger = models.CharField(max_length=20, choices=Trigger.choices, default=Trigger.EVENT)
    url = models.URLField("URL", max_length=500)
    payload = models.JSONField()
    request_headers = models.JSONField(default=dict, help_text="As sent, with signatures and secrets masked.")
    success = models.BooleanField(default=False)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True, help_text="The first 16 KB.")
    response_time_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True, help_text="When the retry is due; empty if none.")
    # The place of this attempt in its event's run of tries (1, then each retry), from which the
    # next retry is numbered; empty for tests, redeliveries and recoveries.
    run_attempt = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    # When the retry was handed to the broker: at once for a short wait (a delayed message), by
    # the relay (delivery.webhook_retries_queue_due) once due for a long one.
    retry_queued_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The task that made this attempt (see delivery.webhook_deliver): a task the broker delivers
    # twice finds its key logged and sends once. Empty for test sends.
    task_key = models.UUIDField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        ordering = ("-created_at", "-id")
        constraints = [
            # Attempts of one delivery are numbered in the order they are logged (delivery._log_attempt).
            models.UniqueConstraint(fields=["delivery_id", "attempt"], name="webhook_delivery_attempt_unique"),
            models.UniqueConstraint(fields=["task_key"], name="webhook_delivery_task_key_unique"),
        ]
        indexes = [
            models.Index(fields=["webhook", "-created_at"], name="webhook_delivery_webhook_idx"),
            models.Index(fields=["event", "-created_at"], name="webhook_delivery_event_idx"),
            models.Index(fields=["delivery_id"], name="webhook_delivery_success_idx", condition=models.Q(success=True)),
            models.Index(
                fields=["next_attempt_at"],
                name="webhook_delivery_due_idx",
                condition=models.Q(next_attempt_at__isnull=False, retry_queued_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} #{self.attempt} → {self.status_code or self.error[:40] or 'pending'}"


class WebhookEvent(models.Model):
    """An emitted event: the outbox row, written in the same transaction as the change it reports,
    moved to the broker by the relay (webhooks.outbox), then kept for recovery until pruned."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, help_text="Each webhook's webhook-id derives from it.")
    event = models.CharField(max_length=100)
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True, help_text="When the relay queued it; empty while pending.")

    class Meta:
        ordering = ("created_at",)
        indexes = [
            models.Index(
                fields=["created_at"], name="webhook_event_pending_idx", condition=models.Q(sent_at__isnull=True)
            )
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.id} ({'sent' if self.sent_at else 'pending'})"
