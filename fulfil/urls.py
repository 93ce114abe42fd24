from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from fulfil.metrics import metrics_view
from fulfil.routers import Router
from fulfil.views import CeleryTaskViewSet, CeleryViewSet, HealthViewSet
from imports.api import ImportJobViewSet, UploadViewSet
from products.api import ProductDeletionViewSet, ProductViewSet
from webhooks.api import WebhookViewSet

router = Router()
router.register_unlisted("hello", HealthViewSet, basename="hello")
# Before "products": its detail route would otherwise take products/upload and products/delete.
router.register_unlisted("products/upload", UploadViewSet, basename="upload")
router.register_unlisted("products/delete", ProductDeletionViewSet, basename="delete")
router.register("products", ProductViewSet, basename="product")
router.register("imports", ImportJobViewSet, basename="import")
router.register("webhooks", WebhookViewSet, basename="webhook")
router.register_unlisted("celery", CeleryViewSet, basename="celery")
router.register_unlisted("celery/task", CeleryTaskViewSet, basename="celery-task")

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include((router.urls, "api"), namespace="v1")),
    re_path(r"^api/schema/?$", SpectacularAPIView.as_view(), name="schema"),
    re_path(r"^api/docs/?$", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    re_path(r"^api/redoc/?$", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    re_path(r"^metrics/?$", metrics_view, name="metrics"),
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
]

handler404 = "fulfil.api.json_404"
handler500 = "fulfil.api.json_500"
