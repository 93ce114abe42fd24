from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from fulfil import views
from fulfil.routers import Router
from imports.api import ImportJobViewSet, ProductUploadView, UploadStatusView
from products.api import ProductDeleteAllView, ProductDeleteStatusView, ProductViewSet
from webhooks.api import WebhookViewSet

router = Router()
router.register("products", ProductViewSet, basename="product")
router.register("webhooks", WebhookViewSet, basename="webhook")  # webhooks
router.register("imports", ImportJobViewSet, basename="import")

api_v1 = [
    re_path(r"^hello/?$", views.hello, name="hello"),
    re_path(r"^celery/workers/?$", views.CeleryWorkersView.as_view(), name="celery-workers"),
    re_path(r"^celery/test/?$", views.CeleryTestView.as_view(), name="celery-test"),
    re_path(r"^celery/task/(?P<task_id>[^/]+)/?$", views.CeleryTaskView.as_view(), name="celery-task"),
    # Before the router: these would otherwise match products/{id}.
    re_path(r"^products/upload/?$", ProductUploadView.as_view(), name="upload"),
    re_path(r"^products/upload/(?P<task_id>[^/]+)/status/?$", UploadStatusView.as_view(), name="upload-status"),
    re_path(r"^products/all/?$", ProductDeleteAllView.as_view(), name="delete-all"),
    re_path(r"^products/delete/(?P<task_id>[^/]+)/status/?$", ProductDeleteStatusView.as_view(), name="delete-status"),
    *router.urls,
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include((api_v1, "api"), namespace="v1")),
    re_path(r"^api/schema/?$", SpectacularAPIView.as_view(), name="schema"),
    re_path(r"^api/docs/?$", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    re_path(r"^api/redoc/?$", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
]

handler404 = "fulfil.api.json_404"
handler500 = "fulfil.api.json_500"
