from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from fulfil import celery_ops
from fulfil.health import health_check


@extend_schema(
    responses=inline_serializer(
        "Health",
        {
            "status": serializers.ChoiceField(choices=["ok", "degraded"]),
            "database": serializers.CharField(),
            "broker": serializers.CharField(),
            "version": serializers.CharField(),
        },
    ),
    description="Health: 200 when the database and the broker answer, 503 otherwise. No authentication.",
)
@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
def hello(request):
    result = health_check()
    code = status.HTTP_200_OK if result["status"] == "ok" else status.HTTP_503_SERVICE_UNAVAILABLE
    return Response(result, status=code)


class IsSuperuser(BasePermission):
    """Celery operations can cancel anyone's import or delete-all: superusers only."""

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_superuser)


class CeleryWorkersView(APIView):
    """GET /api/v1/celery/workers: live workers, their queues, active and reserved tasks."""

    permission_classes = (IsSuperuser,)

    @extend_schema(responses={200: OpenApiResponse(description="{workers: [...], count}")})
    def get(self, request):
        workers = celery_ops.celery_workers()
        return Response({"workers": workers, "count": len(workers)})


class CeleryTestView(APIView):
    """POST /api/v1/celery/test: queue a tiny test task."""

    permission_classes = (IsSuperuser,)

    @extend_schema(request=None, responses={202: OpenApiResponse(description="{task_id, status_url}")})
    def post(self, request):
        task_id = celery_ops.celery_test_task()
        url = request.build_absolute_uri(reverse("v1:celery-task", args=[task_id]))
        return Response({"task_id": task_id, "status": "PENDING", "status_url": url}, status=status.HTTP_202_ACCEPTED)


class CeleryTaskView(APIView):
    """GET /api/v1/celery/task/{id}: state, progress, result or error, dates. DELETE: revoke."""

    permission_classes = (IsSuperuser,)

    @extend_schema(responses={200: OpenApiResponse(description="state, progress, result, error, dates, job")})
    def get(self, request, task_id: str):
        return Response(celery_ops.celery_task_state(task_id))

    @extend_schema(responses={202: OpenApiResponse(description="{task_id, revoked, job}")})
    def delete(self, request, task_id: str):
        return Response(celery_ops.celery_task_revoke(task_id), status=status.HTTP_202_ACCEPTED)
