"""The API's own endpoints: health and Celery operations."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from fulfil import celery_ops
from fulfil.health import health_check
from fulfil.permissions import IsSuperuser
from fulfil.schema import SingleObjectSchema
from fulfil.serializers import (
    CeleryTaskRevokedSerializer,
    CeleryTaskStateSerializer,
    CeleryTestQueuedSerializer,
    CeleryWorkersSerializer,
    HealthSerializer,
)


class HealthViewSet(viewsets.ViewSet):
    """`GET hello`: 200 when the database and the broker answer, 503 otherwise. No authentication."""

    authentication_classes = ()
    permission_classes = (AllowAny,)
    schema = SingleObjectSchema()

    @extend_schema(responses={200: HealthSerializer, 503: HealthSerializer})
    def list(self, request: Request) -> Response:
        result = health_check()
        code = status.HTTP_200_OK if result["status"] == "ok" else status.HTTP_503_SERVICE_UNAVAILABLE
        return Response(result, status=code)


class CeleryViewSet(viewsets.ViewSet):
    """`GET celery/workers`: live workers, their queues, active and reserved tasks; `POST celery/test`:
    queue a tiny test task."""

    permission_classes = (IsSuperuser,)

    @extend_schema(responses={200: CeleryWorkersSerializer})
    @action(detail=False, methods=["get"])
    def workers(self, request: Request) -> Response:
        workers = celery_ops.celery_workers()
        return Response({"workers": workers, "count": len(workers)})

    @extend_schema(request=None, responses={202: CeleryTestQueuedSerializer})
    @action(detail=False, methods=["post"])
    def test(self, request: Request) -> Response:
        task_id = celery_ops.celery_test_task()
        url = request.build_absolute_uri(reverse("v1:celery-task-detail", args=[task_id]))
        return Response({"task_id": task_id, "status": "PENDING", "status_url": url}, status=status.HTTP_202_ACCEPTED)


class CeleryTaskViewSet(viewsets.ViewSet):
    """`GET celery/task/{id}`: state, progress, result or error, dates; `DELETE`: revoke."""

    permission_classes = (IsSuperuser,)
    lookup_field = "task_id"
    lookup_value_regex = "[^/]+"

    @extend_schema(responses={200: CeleryTaskStateSerializer})
    def retrieve(self, request: Request, task_id: str) -> Response:
        return Response(celery_ops.celery_task_state(task_id))

    @extend_schema(responses={202: CeleryTaskRevokedSerializer})
    def destroy(self, request: Request, task_id: str) -> Response:
        return Response(celery_ops.celery_task_revoke(task_id), status=status.HTTP_202_ACCEPTED)
