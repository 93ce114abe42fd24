"""The product list in the admin: its order, search, editing on the list, exporting what it shows,
and deleting everything."""

from __future__ import annotations

import csv
from datetime import timedelta

import pytest
from django.utils import timezone

from fulfil.tests.browser.conftest import bar_drawn_full, fits_the_width, job_page_finished
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
    # Read-only until editing is chosen: no edit boxes a stray keystroke could change.
    assert page.locator("#result_list input[type=text]").count() == 0
    assert row_of(page, "EDIT-1").locator("td.field-name").inner_text() == "Before 1"
    page.click("#edit-toggle")
    page.wait_for_selector("#editing-note")
    assert page.inner_text("#edit-toggle") == "DONE EDITING"
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
    assert "edit=1" in page.url  # still editing after the save
    row = row_of(page, "EDIT-1")
    assert row.locator("input[name$='-name']").input_value() == "After, edited in the browser"
    assert not row.locator("input[name$='-active']").is_checked()
    saved = Product.objects.get(sku="EDIT-1")
    assert (saved.name, saved.active) == ("After, edited in the browser", False)
    others = Product.objects.exclude(sku="EDIT-1").order_by("sku")
    assert [(p.name, p.active) for p in others] == [("Before 0", True), ("Before 2", True)]

    page.click("#edit-toggle")  # Done editing
    page.wait_for_selector("#result_list")
    assert page.locator("#result_list input[type=text]").count() == 0 and "edit=1" not in page.url

    # Reloaded, the list still says so, and the "inactive" filter finds it.
    page.goto("/admin/products/product/?active__exact=0")
    shot("inactive-filter")
    assert page.locator("#result_list tbody tr").count() == 1
    assert row_of(page, "EDIT-1").locator("td.field-name").inner_text() == "After, edited in the browser"


def test_the_list_is_newest_first_then_by_sku_and_a_search_shows_where_it_matched(page, shot, staff):
    now = timezone.now()
    earlier = now - timedelta(hours=1)
    Product.objects.bulk_create(  # one import's products share a creation time
        Product(sku=sku, name=f"Shirt {sku}", description=text, created_at=now)
        for sku, text in [
            ("TEE-30", "Plain cotton."),
            ("tee-10", "Soft organic cotton, relaxed fit, machine washable at 40 degrees. " * 2
             + "Made in Portugal from certified cotton; the stitching is reinforced at the shoulders."),
            ("Tee-20", "Linen."),
        ]
    )  # fmt: skip
    Product.objects.bulk_create([Product(sku="OLD-1", name="Old mug", created_at=earlier)])
    page.goto("/admin/products/product/")
    shot("product-list-order")
    skus = page.locator("#result_list tbody th a").all_inner_texts()
    assert skus == ["tee-10", "Tee-20", "TEE-30", "OLD-1"]
    assert fits_the_width(page, "#changelist .results")

    page.fill("#searchbar", "portugal")
    page.press("#searchbar", "Enter")
    page.wait_for_url("**q=portugal**")
    shot("search-snippet")
    assert page.locator("#result_list tbody tr").count() == 1
    snippet = page.locator("#result_list td.field-matched")
    assert snippet.locator("mark").inner_text() == "Portugal"
    assert snippet.inner_text().startswith("…") and "shoulders" in snippet.inner_text()
    assert page.eval_on_selector("#result_list mark", "el => getComputedStyle(el).backgroundColor") == (
        "rgb(253, 230, 138)"
    )


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
    job_page_finished(page, timeout=30, worker=worker)
    bar_drawn_full(page)
    shot("delete-all-done")
    assert page.inner_text("#outcome") == "Completed"
    assert "tone-success" in page.get_attribute("#delete-progress", "class")
    assert page.eval_on_selector(".fill", "el => getComputedStyle(el).backgroundColor") == "rgb(30, 126, 52)"
    assert page.inner_text("#phase") == "Deleted 2,500 products"
    assert page.inner_text("#percent") == "100%"
    assert (page.inner_text("#deleted"), page.inner_text("#total")) == ("2,500", "2,500")

    page.click("text=Back to products")
    page.wait_for_selector("#changelist")
    shot("product-list-empty")
    assert page.inner_text(".paginator").strip() == "0 products"
    assert page.locator("#result_list").count() == 0
    assert Product.objects.count() == 0
