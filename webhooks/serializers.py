from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from fulfil.fields import max_length
from fulfil.serializers import StrictJSONMixin
from webhooks.events import EVENTS, TEST_EVENT
from webhooks.headers import MASK, MAX_HEADER_VALUE_LENGTH, MAX_HEADERS, mask_headers, validate_headers
from webhooks.models import Webhook, WebhookDelivery
from webhooks.validators import URI_TAIL, validate_events, validate_webhook_url


@extend_schema_field(
    {
        "type": "object",
        "maxProperties": MAX_HEADERS,
        # Names are HTTP tokens; values visible ASCII with spaces or tabs only between characters.
        "patternProperties": {
            "^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$": {
                "type": "string",
                "maxLength": MAX_HEADER_VALUE_LENGTH,
                "pattern": "^([!-~]([ \t!-~]*[!-~])?)?$",
            }
        },
        "additionalProperties": False,
    }
)
class HeadersField(serializers.DictField):
    """Custom headers, shown with the values of secret-looking ones masked."""

    def to_representation(self, value):
        return mask_headers(super().to_representation(value))


@extend_schema_field({"type": "array", "items": {"type": "string", "enum": list(EVENTS)}, "minItems": 1})
class EventsField(serializers.ListField):
    """Event names; validate_events says what is wrong with them (the schema says the same)."""


# An http(s) URL with a host name of at most four labels (so never longer than DNS allows), as the
# schema says it; IP addresses are accepted too, but not all: validate_webhook_url refuses internal ones.
_LABEL = "[A-Za-z0-9]([A-Za-z0-9-]{0,60}[A-Za-z0-9])?"
URL_PATTERN = rf"^https?://({_LABEL}\.){{1,3}}[A-Za-z]{{2,63}}(:[1-9][0-9]{{0,3}})?{URI_TAIL}$"


class WebhookURLField(serializers.URLField):
    """An http(s) URL; whether its host may be called is for validate_webhook_url."""

    request_pattern = URL_PATTERN  # see fulfil.schema.AutoSchema


class WebhookSerializer(StrictJSONMixin, serializers.ModelSerializer):
    """Shapes and lengths; the service validates the rest. The secret is write-only."""

    url = WebhookURLField(max_length=max_length(Webhook, "url"), validators=[validate_webhook_url])
    events = EventsField(
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


class WebhookTestSerializer(StrictJSONMixin, serializers.Serializer):
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


class WebhookRecoverSerializer(StrictJSONMixin, serializers.Serializer):
    since = serializers.DateTimeField(help_text="Resend the events from this time on (ISO 8601) that never arrived.")


class WebhookRecoveryQueuedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    queued = serializers.IntegerField(help_text="Events queued to be sent again.")
