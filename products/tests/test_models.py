from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase

from products.keys import sku_key
from products.models import Product

pytestmark = pytest.mark.django_db


@pytest.mark.quickstart
def test_database_refuses_a_sku_differing_only_in_case():
    Product.objects.create(sku="WIDGET-1", name="Widget")
    with pytest.raises(IntegrityError), transaction.atomic():
        Product.objects.create(sku="widget-1", name="Another widget")
    assert list(Product.objects.values_list("sku", flat=True)) == ["WIDGET-1"]


@pytest.mark.quickstart
def test_database_refuses_a_case_variant_written_with_raw_sql():
    Product.objects.create(sku="Abc-9", name="A")
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO products_product (id, sku, name, description, active, created_at, updated_at)"
            " VALUES (%s, %s, %s, '', true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
            ["00000000-0000-0000-0000-000000000001", "aBC-9", "B"],
        )


@pytest.mark.quickstart
def test_sku_is_stored_as_given_and_keyed_in_lower_case():
    product = Product.objects.create(sku="MiXeD-Case", name="x")
    product.refresh_from_db()
    assert product.sku == "MiXeD-Case"
    assert product.sku_key == "mixed-case"


@pytest.mark.quickstart
def test_database_defaults_fill_timestamps_and_active():
    product = Product.objects.create(sku="d-1", name="Defaults")
    assert product.created_at is not None and product.created_at.tzinfo is not None
    assert product.updated_at is not None
    assert product.active is True
    assert product.description == ""


def test_non_ascii_letters_are_compared_exactly():
    Product.objects.create(sku="ÄBC", name="upper umlaut")
    Product.objects.create(sku="äbc", name="lower umlaut")  # different SKUs: only A-Z fold
    Product.objects.create(sku="\u212a-1", name="Kelvin sign")  # Python's lower() turns it into 'k'
    Product.objects.create(sku="k-1", name="ASCII k")
    assert Product.objects.count() == 4


class TestSkuKeyAgreesWithDatabase(HypothesisTestCase):
    """The in-file duplicate check (Python) and the unique key (PostgreSQL) are one rule."""

    @settings(max_examples=300, deadline=None)
    @given(st.text(min_size=1, max_size=100).filter(lambda s: "\x00" not in s))
    def test_python_key_equals_the_generated_column(self, sku):
        product = Product.objects.create(sku=sku, name="n")
        product.refresh_from_db(fields=["sku_key"])
        assert product.sku_key == sku_key(sku)

    @settings(max_examples=200, deadline=None)
    @given(st.text(min_size=1, max_size=20).filter(lambda s: "\x00" not in s), st.data())
    def test_database_treats_two_skus_as_one_exactly_when_python_does(self, first, data):
        second = data.draw(
            st.one_of(
                st.just(first.swapcase()),
                st.just(first.upper()),
                st.just(first.lower()),
                st.text(min_size=1, max_size=20).filter(lambda s: "\x00" not in s),
            )
        )
        Product.objects.create(sku=first, name="first")
        try:
            with transaction.atomic():
                Product.objects.create(sku=second, name="second")
            refused = False
        except IntegrityError:
            refused = True
        assert refused == (sku_key(first) == sku_key(second))
