"""The product list in the admin: editing on the list, and deleting everything."""

from __future__ import annotations

import pytest

from fulfil.processes import wait_until
from fulfil.tests.browser.conftest import bar_drawn_full
from products import services
from products.models import Product, ProductDeletion

pytestmark = pytest.mark.browser


def row_of(page, sku: str):
    return page.locator("#result_list tbody tr", has=page.locator("th a", has_text=sku))


def test_a_product_edited_on_the_list_is_saved_and_shown(page, shot, staff):
    for i in range(3):
        services.product_create(sku=f"EDIT-{i}", name=f"Before {i}")
    page.goto("/admin/products/product/")
    shot("product-list")
    row = row_of(page, "EDIT-1")
    assert row.locator("input[name$='-name']").input_value() == "Before 1"
    assert row.locator("input[name$='-active']").is_checked()

    row.locator("input[name$='-name']").fill("After, edited in the browser")
    row.locator("input[name$='-active']").uncheck()
    shot("product-list-edited")
    page.click("#changelist-form input[name=_save]")
    page.wait_for_selector(".messagelist .success")
    shot("product-list-saved")

    assert page.inner_text(".messagelist .success") == "1 product was changed successfully."
    row = row_of(page, "EDIT-1")
    assert row.locator("input[name$='-name']").input_value() == "After, edited in the browser"
    assert not row.locator("input[name$='-active']").is_checked()
    saved = Product.objects.get(sku="EDIT-1")
    assert (saved.name, saved.active) == ("After, edited in the browser", False)
    others = Product.objects.exclude(sku="EDIT-1").order_by("sku")
    assert [(p.name, p.active) for p in others] == [("Before 0", True), ("Before 2", True)]

    # Reloaded, the list still says so, and the "inactive" filter finds it.
    page.goto("/admin/products/product/?active__exact=0")
    shot("inactive-filter")
    assert page.locator("#result_list tbody tr").count() == 1
    assert row_of(page, "EDIT-1").locator("input[name$='-name']").input_value() == "After, edited in the browser"


@pytest.mark.worker
def test_delete_all_asks_for_confirmation_shows_progress_and_leaves_no_product(
    page, shot, staff, celery_worker_process
):
    Product.objects.bulk_create(Product(sku=f"GONE-{i:05d}", name=f"Doomed {i}") for i in range(2_500))
    worker = celery_worker_process("imports", env={"PRODUCT_DELETE_BATCH_SIZE": "250"})
    page.goto("/admin/products/product/")
    assert page.inner_text(".paginator").strip().endswith("\n2500 products")
    shot("product-list-full")

    page.click("#delete-all-link")
    page.wait_for_selector("#product-count")
    shot("delete-all-confirm")
    assert page.inner_text("#product-count") == "2,500"
    assert "This cannot be undone." in page.inner_text("#content-main")

    page.fill("#id_confirm", "delete")  # not exactly DELETE: refused, nothing happens
    page.click("input[type=submit][value^='Delete all']")
    page.wait_for_selector(".errorlist")
    shot("delete-all-refused")
    assert page.inner_text(".errorlist") == "Type DELETE or 2,500 exactly; nothing was deleted."
    assert Product.objects.count() == 2_500 and not ProductDeletion.objects.exists()

    page.fill("#id_confirm", "DELETE")
    page.click("input[type=submit][value^='Delete all']")
    page.wait_for_url("**/admin/products/product/delete-all/*/")
    wait_until(lambda: page.locator("#outcome").is_visible(), timeout=30, what="the outcome", worker=worker)
    bar_drawn_full(page)
    shot("delete-all-done")
    assert page.get_attribute("#outcome-text", "class") == "success"
    assert page.inner_text("#outcome-text") == "Deleted 2,500 products"
    assert page.inner_text("#percent") == "100%"
    assert (page.inner_text("#deleted"), page.inner_text("#total")) == ("2,500", "2,500")

    page.click("text=Back to products")
    page.wait_for_selector("#changelist")
    shot("product-list-empty")
    assert page.inner_text(".paginator").strip() == "0 products"
    assert page.locator("#result_list").count() == 0
    assert Product.objects.count() == 0
