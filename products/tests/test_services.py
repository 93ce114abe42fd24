from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from fulfil.errors import Conflict
from products import services
from products.models import Product

pytestmark = pytest.mark.django_db


@pytest.mark.quickstart
def test_create_trims_values_and_keeps_the_sku_spelling():
    product = services.product_create(sku="  Sku-1 ", name=" Name ")
    assert (product.sku, product.name) == ("Sku-1", "Name")
    assert Product.objects.get().sku == "Sku-1"


@pytest.mark.quickstart
def test_create_with_a_case_variant_sku_is_a_conflict_naming_the_existing_product():
    existing = services.product_create(sku="ABC-1", name="First")
    with pytest.raises(Conflict) as caught:
        services.product_create(sku="abc-1", name="Second")
    assert "ABC-1" in str(caught.value)
    assert caught.value.extra["existing_id"] == str(existing.pk)
    assert Product.objects.count() == 1


def test_create_rejects_an_overlong_name_with_a_field_error():
    with pytest.raises(ValidationError) as caught:
        services.product_create(sku="x", name="n" * 256)
    assert "name" in caught.value.message_dict


def test_update_writes_only_what_changed_and_bumps_updated_at():
    product = services.product_create(sku="u-1", name="Old")
    before = product.updated_at
    services.product_update(product=product, name="New", active=True)
    product.refresh_from_db()
    assert product.name == "New"
    assert product.updated_at > before


def test_update_to_another_products_sku_is_a_conflict():
    services.product_create(sku="one", name="1")
    two = services.product_create(sku="two", name="2")
    with pytest.raises(Conflict):
        services.product_update(product=two, sku="ONE")
    two.refresh_from_db()
    assert two.sku == "two"


def test_update_may_change_the_case_of_its_own_sku():
    product = services.product_create(sku="case", name="c")
    services.product_update(product=product, sku="CASE")
    product.refresh_from_db()
    assert product.sku == "CASE"
    assert product.sku_key == "case"


def test_set_active_changes_only_products_in_the_other_state():
    a = services.product_create(sku="a", name="a", active=True)
    b = services.product_create(sku="b", name="b", active=False)
    assert services.product_set_active(products=[a, b], active=False) == 1
    assert not Product.objects.filter(active=True).exists()


def test_delete_removes_the_product():
    product = services.product_create(sku="gone", name="g")
    services.product_delete(product=product)
    assert not Product.objects.exists()
