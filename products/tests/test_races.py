"""What another request did a moment earlier, and odd but valid input, never turn into a 500."""

from __future__ import annotations

import pytest

from fulfil.errors import NotFound
from products import services
from products.api import ProductViewSet
from products.models import Product
from webhooks.models import WebhookEvent
from webhooks.services import webhook_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def deleted_meanwhile(monkeypatch):
    """The product the view loads is deleted by "another request" before the view writes."""
    real = ProductViewSet.get_object

    def get_object(self):
        product = real(self)
        Product.objects.filter(pk=product.pk).delete()
        return product

    monkeypatch.setattr(ProductViewSet, "get_object", get_object)


@pytest.mark.parametrize("method", ["patch", "put", "delete"])
def test_changing_a_product_another_request_deleted_is_a_404_and_fires_nothing(
    api, deleted_meanwhile, settings, method
):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    webhook_create(url="http://127.0.0.1:9/hook", events=["product.updated", "product.deleted"])
    product = services.product_create(sku="GONE", name="Gone")
    response = getattr(api, method)(f"/api/v1/products/{product.pk}", {"sku": "GONE", "name": "Renamed"})
    assert response.status_code == 404
    assert not WebhookEvent.objects.filter(event__in=["product.updated", "product.deleted"]).exists()


def test_the_services_say_so_too():
    product = services.product_create(sku="GONE", name="Gone")
    Product.objects.filter(pk=product.pk).delete()
    with pytest.raises(NotFound):
        services.product_update(product=product, name="Renamed")
    assert services.product_delete(product=product) is False


@pytest.mark.parametrize(
    "value, status_code",
    [
        ("2026-01-01T00:00:00Z", 200),
        ("2026-01-01T00:00:00+15:59", 200),
        ("2026-01-01T00:00:00-15:59", 200),
        ("2026-01-01T00:00:00+20:32", 400),
        ("2026-01-01T00:00:00-23:59", 400),
        ("not a time", 400),
    ],
)
@pytest.mark.parametrize("name", ["created_after", "updated_after"])
def test_a_utc_offset_postgresql_cannot_store_is_a_400(api, name, value, status_code):
    response = api.get("/api/v1/products", {name: value})
    assert response.status_code == status_code, response.json()
    if value.endswith("+20:32"):
        assert response.json() == {name: ["The UTC offset must be between -15:59 and +15:59."]}
