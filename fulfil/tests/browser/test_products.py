"""The product list in the admin: editing on the list, exporting what it shows, and deleting everything."""

from __future__ import annotations

import csv

import pytest

from fulfil.processes import wait_until
from fulfil.tests.browser.conftest import bar_drawn_full
from imports import parsing
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


def test_export_csv_downloads_exactly_what_the_filtered_and_searched_list_shows(page, shot, staff, tmp_path):
    for i in range(5):
        services.product_create(sku=f"MUG-{i}", name=f"Red mug {i}", description=f"Holds {i}00 ml,\nstackable")
    services.product_create(sku="MUG-OFF", name="Retired mug", active=False)
    services.product_create(sku="=MUG-EQ", name="Mug, with a formula-like SKU", description="  padded  ")
    services.product_create(sku="SHIRT-1", name="Blue shirt")
    page.goto("/admin/products/product/")
    page.click("#changelist-filter [data-filter-title='active'] >> text=Yes")
    page.wait_for_url("**active__exact=1**")
    page.fill("#searchbar", "mug")
    page.press("#searchbar", "Enter")
    page.wait_for_url("**q=mug**")
    shot("filtered-list")
    shown = page.locator("#result_list tbody th a").all_inner_texts()
    assert sorted(shown) == ["=MUG-EQ", *(f"MUG-{i}" for i in range(5))]

    with page.expect_download() as started:
        page.click("#export-link")
    download = started.value
    assert download.suggested_filename.startswith("products-") and download.suggested_filename.endswith(".csv")
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["sku", "name", "description", "active"]
    assert [row[0] for row in rows[1:]] == shown, "the list's products, in the list's order"
    products = {p.sku: p for p in Product.objects.all()}
    for sku, name, description, active in rows[1:]:  # as stored: no formula neutralised, nothing trimmed
        product = products[sku]
        assert (name, description, active) == (product.name, product.description, "true")
    # The importer reads it as its own: the four known columns, nothing to warn about.
    with path.open("rb") as f:
        layout = parsing.inspect(f)
    assert (layout.present, layout.warnings, layout.encoding) == (("sku", "name", "description", "active"), [], "utf-8")


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
