from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

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
