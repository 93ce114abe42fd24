from __future__ import annotations

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response

from fulfil import permissions
from webhooks import services
from webhooks.delivery import webhook_send_test
from webhooks.filters import WebhookDeliveryFilter
from webhooks.models import Webhook, WebhookDelivery
from webhooks.selectors import webhook_delivery_list, webhook_list
from webhooks.serializers import (
    WebhookDeliverySerializer,
    WebhookRecoverSerializer,
    WebhookRecoveryQueuedSerializer,
    WebhookRedeliverySerializer,
    WebhookSerializer,
    WebhookTestResultSerializer,
    WebhookTestSerializer,
)


class WebhookViewSet(viewsets.ModelViewSet):
    """Webhooks. Writes go through webhooks.services; the secret is write-only (see has_secret)."""

    serializer_class = WebhookSerializer
    # Sending a test or a redelivery acts on an existing webhook: it needs `change`, not `add`.
    action_permissions = {
        "test": permissions.CHANGE_WEBHOOKS,
        "redeliver": permissions.CHANGE_WEBHOOKS,
        "recover": permissions.CHANGE_WEBHOOKS,
    }
    filter_backends = ()
    filterset_class = None  # the log's (see logs); declared so that an action may set it

    def get_queryset(self):
        return webhook_list()

    def get_object(self) -> Webhook:
        """The webhook in the URL, not run through filter_queryset: the filters an action sets
        (the log's) are for what it lists, and the webhook list itself has none."""
        webhook = get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"])
        self.check_object_permissions(self.request, webhook)
        return webhook

    def perform_create(self, serializer):
        serializer.instance = services.webhook_create(**serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.webhook_update(webhook=serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance):
        services.webhook_delete(webhook=instance)

    @extend_schema(request=WebhookTestSerializer, responses={200: WebhookTestResultSerializer})
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        """Send one signed test event now (no retries) and answer with what the receiver said."""
        webhook = self.get_object()
        serializer = WebhookTestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = webhook_send_test(
            webhook=webhook, event=serializer.validated_data["event"], data=serializer.validated_data.get("payload")
        )
        return Response(result.as_dict())

    @extend_schema(responses={200: WebhookDeliverySerializer(many=True)})
    @action(detail=True, methods=["get"], filter_backends=[DjangoFilterBackend], filterset_class=WebhookDeliveryFilter)
    def logs(self, request, pk=None):
        """The delivery log, one entry per attempt, newest first."""
        deliveries = self.filter_queryset(webhook_delivery_list(webhook=self.get_object()))
        page = self.paginate_queryset(deliveries)
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)

    @extend_schema(
        request=None,
        parameters=[OpenApiParameter("log_id", OpenApiTypes.INT, OpenApiParameter.PATH)],
        responses={202: WebhookRedeliverySerializer},
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=r"logs/(?P<log_id>[^/.]+)/redeliver",
    )
    def redeliver(self, request, pk=None, log_id=None):
        """Queue the logged delivery again: the same payload and webhook-id, one attempt (numbered when sent)."""
        webhook = self.get_object()
        delivery = get_object_or_404(WebhookDelivery.objects.select_related("webhook"), webhook=webhook, pk=log_id)
        services.webhook_redeliver(delivery=delivery)
        body = {"detail": "Redelivery queued.", "delivery_id": delivery.delivery_id}
        return Response(WebhookRedeliverySerializer(body).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=WebhookRecoverSerializer, responses={202: WebhookRecoveryQueuedSerializer})
    @action(detail=True, methods=["post"])
    def recover(self, request, pk=None):
        """Send again, once each, every event since `since` that this webhook never received (202)."""
        webhook = self.get_object()
        serializer = WebhookRecoverSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        queued = services.webhook_recover(webhook=webhook, since=serializer.validated_data["since"])
        body = {"detail": f"{queued} event(s) queued to be sent again.", "queued": queued}
        return Response(WebhookRecoveryQueuedSerializer(body).data, status=status.HTTP_202_ACCEPTED)
