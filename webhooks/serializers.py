from __future__ import annotations

from rest_framework import serializers

from fulfil.fields import max_length
from webhooks.events import EVENTS, TEST_EVENT
from webhooks.headers import MASK, mask_headers, validate_headers
from webhooks.models import Webhook, WebhookDelivery
from webhooks.validators import validate_events


class HeadersField(serializers.DictField):
    """Custom headers, shown with the values of secret-looking ones masked."""

    def to_representation(self, value):
        return mask_headers(super().to_representation(value))


class WebhookSerializer(serializers.ModelSerializer):
    """Shapes and lengths; the service validates the rest. The secret is write-only."""

    events = serializers.ListField(
        child=serializers.CharField(),
        validators=[validate_events],
        help_text="Event names: " + ", ".join(EVENTS) + ".",
    )
    headers = HeadersField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False),
        required=False,
        validators=[validate_headers],
        help_text=(
            "Custom HTTP headers sent with every request. Values of secret-looking headers (Authorization, "
            f"*-Key, *-Token, ...) are shown as {MASK}; send {MASK} back to keep the stored value. "
            "Leave the field out to keep all headers."
        ),
    )
    secret = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        allow_null=True,
        trim_whitespace=False,
        max_length=max_length(Webhook, "secret"),
        help_text="Write-only. Empty or null removes it; leave it out to keep the current one.",
    )
    has_secret = serializers.SerializerMethodField()

    class Meta:
        model = Webhook
        fields = (
            "id",
            "url",
            "events",
            "is_active",
            "secret",
            "has_secret",
            "description",
            "headers",
            "retry_count",
            "timeout_seconds",
            "last_triggered_at",
            "last_error",
            "success_count",
            "failure_count",
            "created_at",
            "updated_at",
        )
        read_only_fields = (
            "id",
            "last_triggered_at",
            "last_error",
            "success_count",
            "failure_count",
            "created_at",
            "updated_at",
        )

    def get_has_secret(self, webhook: Webhook) -> bool:
        return bool(webhook.secret)


class WebhookTestSerializer(serializers.Serializer):
    event = serializers.ChoiceField(choices=[TEST_EVENT, *EVENTS], required=False, default=TEST_EVENT)
    payload = serializers.DictField(required=False, help_text="The `data` of the event sent.")


class WebhookTestResultSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    status_code = serializers.IntegerField(allow_null=True)
    response_time_ms = serializers.IntegerField()
    response_body = serializers.CharField(allow_blank=True)
    error = serializers.CharField(allow_blank=True)


class WebhookDeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = (
            "id",
            "event",
            "delivery_id",
            "attempt",
            "trigger",
            "success",
            "url",
            "payload",
            "request_headers",
            "status_code",
            "response_body",
            "response_time_ms",
            "error",
            "next_attempt_at",
            "created_at",
        )
        read_only_fields = fields


class WebhookRedeliverySerializer(serializers.Serializer):
    detail = serializers.CharField()
    delivery_id = serializers.UUIDField()


class WebhookRecoverSerializer(serializers.Serializer):
    since = serializers.DateTimeField(help_text="Resend the events from this time on (ISO 8601) that never arrived.")


class WebhookRecoveryQueuedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    queued = serializers.IntegerField(help_text="Events queued to be sent again.")
